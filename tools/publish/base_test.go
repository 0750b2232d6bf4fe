package publish

import (
	"archive/tar"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var testPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// TestLocalBaseDeterministic guards the image digest: a base that changed
// between builds would change every image built on it.
func TestLocalBaseDeterministic(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n")
	first, err := localBase(testPlatforms, ca)
	if err != nil {
		t.Fatal(err)
	}
	second, err := localBase(testPlatforms, ca)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Digest()
	d2, _ := second.Digest()
	if d1 != d2 {
		t.Errorf("two local bases have digests %s and %s, want one", d1, d2)
	}
}

// TestLocalBaseContents guards what a non-root static binary needs from its
// base: the users, a writable /tmp, a home and the CA bundle.
func TestLocalBaseContents(t *testing.T) {
	tests := []struct {
		name      string
		ca        []byte
		wantFiles []string
		wantEnv   []string
	}{
		{
			name:      "with CA bundle",
			ca:        []byte("certs"),
			wantFiles: []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt", "home/", "home/nonroot/", "root/", "tmp/"},
			wantEnv:   []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		},
		{
			name:      "host without CA bundle",
			wantFiles: []string{"etc/", "etc/group", "etc/passwd", "home/", "home/nonroot/", "root/", "tmp/"},
			wantEnv:   []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := localBase(testPlatforms, tt.ca)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != len(testPlatforms) {
				t.Fatalf("index lists %d images, want %d", len(im.Manifests), len(testPlatforms))
			}
			for i, desc := range im.Manifests {
				img, err := idx.Image(desc.Digest)
				if err != nil {
					t.Fatal(err)
				}
				cfg, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := cfg.Platform().String(), testPlatforms[i].String(); got != want || desc.Platform.String() != want {
					t.Errorf("image %d: config platform %s, index platform %s, want %s", i, got, desc.Platform, want)
				}
				if cfg.Config.User != "65532" || cfg.Config.WorkingDir != "/home/nonroot" {
					t.Errorf("image %d: user %q in %q, want 65532 in /home/nonroot", i, cfg.Config.User, cfg.Config.WorkingDir)
				}
				if diff := cmp.Diff(tt.wantEnv, cfg.Config.Env); diff != "" {
					t.Errorf("image %d: env (-want +got):\n%s", i, diff)
				}
			}

			img, err := idx.Image(im.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers = %d, %v; want one layer", len(layers), err)
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			headers := map[string]*tar.Header{}
			var names []string
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Name == "etc/passwd" {
					b, _ := io.ReadAll(tr)
					if want := "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"; !slices.Contains(strings.SplitAfter(string(b), "\n"), want) {
						t.Errorf("etc/passwd = %q, want a line %q", b, want)
					}
				}
				names = append(names, h.Name)
				headers[h.Name] = h
				if !h.ModTime.Equal(baseEpoch) {
					t.Errorf("%s has time %v, want %v", h.Name, h.ModTime, baseEpoch)
				}
			}
			if diff := cmp.Diff(tt.wantFiles, names); diff != "" {
				t.Errorf("layer files (-want +got):\n%s", diff)
			}
			if h := headers["tmp/"]; h.Mode != 0o1777 {
				t.Errorf("tmp/ mode = %o, want 1777", h.Mode)
			}
			if h := headers["home/nonroot/"]; h.Uid != NonRootUID || h.Gid != NonRootUID {
				t.Errorf("home/nonroot/ owner = %d:%d, want %d:%d", h.Uid, h.Gid, NonRootUID, NonRootUID)
			}
		})
	}
}
