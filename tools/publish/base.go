package publish

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BaseLocal selects the minimal static non-root base that Image builds in
// process, for machines that cannot reach the production base's registry.
const BaseLocal = "local"

// LocalBaseTag is the tag of the local base, pushed to Repo + "/base".
const LocalBaseTag = "static-nonroot"

// NonRootUID is the user (and group) the images run as, as in distroless.
const NonRootUID = 65532

// hostCABundle is copied into the local base so that the service can make
// TLS calls; the local base omits it where the host has none.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// baseEpoch is the fixed time of every file and history entry of the local
// base, so that the base only changes when its contents do.
var baseEpoch = time.Unix(0, 0).UTC()

// localBase builds an index of the minimal base for each platform. The
// result depends only on the platforms and the CA bundle (nil omits it).
func localBase(platforms []v1.Platform, caBundle []byte) (v1.ImageIndex, error) {
	layerTar, err := baseLayer(caBundle)
	if err != nil {
		return nil, fmt.Errorf("build the local base layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}

	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if caBundle != nil {
		env = append(env, "SSL_CERT_FILE="+hostCABundle)
	}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		cfg := &v1.ConfigFile{
			Architecture: p.Architecture,
			OS:           p.OS,
			Variant:      p.Variant,
			Created:      v1.Time{Time: baseEpoch},
			Config: v1.Config{
				User:       fmt.Sprint(NonRootUID),
				WorkingDir: "/home/nonroot",
				Env:        env,
			},
			RootFS: v1.RootFS{Type: "layers"},
		}
		img, err := mutate.ConfigFile(empty.Image, cfg)
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer: layer,
			History: v1.History{
				Created:   v1.Time{Time: baseEpoch},
				CreatedBy: "platform-demo publish: minimal static non-root base",
				Comment:   "users root and nonroot (65532), CA certificates, /tmp, /home/nonroot",
			},
		})
		if err != nil {
			return nil, err
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		plat := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType: types.OCIManifestSchema1,
				Platform:  &plat,
			},
		})
	}
	return idx, nil
}

// baseLayer returns the uncompressed tar of the base's single layer. Entries
// are in a fixed order with fixed times and owners.
func baseLayer(caBundle []byte) ([]byte, error) {
	type entry struct {
		name     string
		mode     int64
		uid      int
		contents []byte
	}
	const nonroot = NonRootUID
	entries := []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, contents: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, contents: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
	}
	if caBundle != nil {
		entries = append(entries,
			entry{name: "etc/ssl/", mode: 0o755},
			entry{name: "etc/ssl/certs/", mode: 0o755},
			entry{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, contents: caBundle},
		)
	}
	entries = append(entries,
		entry{name: "home/", mode: 0o755},
		entry{name: "home/nonroot/", mode: 0o700, uid: nonroot},
		entry{name: "root/", mode: 0o700},
		// 01777: world-writable with the sticky bit, as /tmp must be.
		entry{name: "tmp/", mode: 0o1777},
	)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: baseEpoch,
			Format:  tar.FormatUSTAR,
		}
		if e.name[len(e.name)-1] == '/' {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.contents))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("write %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.contents); err != nil {
			return nil, fmt.Errorf("write %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readCABundle returns the host's CA bundle, or nil when the host has none.
func readCABundle() ([]byte, error) {
	b, err := os.ReadFile(hostCABundle)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the CA bundle for the local base: %w", err)
	}
	return b, nil
}
