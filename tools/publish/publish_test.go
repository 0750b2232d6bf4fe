package publish

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	localregistry "github.com/andrelair-platform/platform-demo/tools/local/registry"
)

// The build identity every test publishes; Image takes it as given.
const (
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testVersion = "0123456"
	testSource  = "https://github.com/andrelair-platform/platform-demo"
)

var testCommitTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// module writes the stand-in service and its build settings, shaped like
// the repository's, into a fresh module and returns its directory. The
// tests build it rather than the service, so that a change to the service
// does not rerun them; TestRepositoryConfig reads the real settings.
func module(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := fixture.Workspace(dir, "", fixture.Reference); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkSBOM fails the test unless repo holds, under the tag of the image
// digest's SBOM, an SPDX document of one layer.
func checkSBOM(t *testing.T, repo, digest string) {
	t.Helper()
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	ref := repo + ":" + SBOMTag(h)
	if !strings.HasSuffix(ref, ":sha256-"+h.Hex+".sbom") {
		t.Errorf("SBOMTag(%s) = %q, want sha256-<hex>.sbom", digest, SBOMTag(h))
	}
	img, err := remote.Image(mustRef(t, ref))
	if err != nil {
		t.Fatalf("pull the SBOM %s: %v", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("the SBOM %s has %d layers, want 1", ref, len(layers))
	}
	mt, err := layers[0].MediaType()
	if err != nil || mt != "text/spdx+json" {
		t.Errorf("the SBOM %s has media type %q (%v), want text/spdx+json", ref, mt, err)
	}
}

// tiny makes the service at dir a program of the runtime alone.
func tiny(t *testing.T, dir string) {
	t.Helper()
	srcs, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range srcs {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newRegistry serves an in-memory registry on loopback and returns its host:port.
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// anonymous keeps the tests away from any Docker config on the machine.
var anonymous = authn.NewMultiKeychain()

func testOptions(t *testing.T, registryAddr string) Options {
	return Options{
		Dir:        module(t),
		Main:       "services/" + fixture.Reference,
		Repo:       registryAddr + "/platform-demo",
		Version:    testVersion,
		Commit:     testCommit,
		CommitTime: testCommitTime,
		Source:     testSource,
		Base:       BaseLocal,
		Keychain:   anonymous,
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatalf("ParseReference(%q): %v", s, err)
	}
	return r
}

// TestImage publishes the service once and checks what a deployment relies
// on: the reference returned, both tags, the config, the metadata, and a
// binary that reports the injected version.
func TestImage(t *testing.T) {
	addr := newRegistry(t, nil)
	opts := testOptions(t, addr)

	// ko reports progress through the standard logger; it must reach
	// Options.Logger and nothing else.
	var stdLogBuf, loggerBuf bytes.Buffer
	prevOut := log.Writer()
	log.SetOutput(&stdLogBuf)
	t.Cleanup(func() { log.SetOutput(prevOut) })
	opts.Logger = slog.New(slog.NewTextHandler(&loggerBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	res, err := Image(context.Background(), opts)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	if stdLogBuf.Len() > 0 {
		t.Errorf("Image wrote to the standard logger:\n%s", stdLogBuf.String())
	}
	for _, want := range []string{"msg=\"Building ", "msg=pushed ", "msg=\"pushed the SBOM\" "} {
		if !strings.Contains(loggerBuf.String(), want) {
			t.Errorf("Options.Logger got no %s line; got:\n%s", want, loggerBuf.String())
		}
	}

	repo := addr + "/platform-demo"
	if !strings.HasPrefix(res.Digest, "sha256:") {
		t.Fatalf("Image().Digest = %q, want sha256:...", res.Digest)
	}
	if want := repo + ":" + testVersion + "@" + res.Digest; res.Ref != want {
		t.Errorf("Image().Ref = %q, want %q", res.Ref, want)
	}
	if diff := cmp.Diff([]string{testVersion, LatestTag}, res.Tags); diff != "" {
		t.Errorf("Image().Tags (-want +got):\n%s", diff)
	}
	for _, tag := range []string{testVersion, LatestTag} {
		desc, err := remote.Head(mustRef(t, repo+":"+tag))
		if err != nil {
			t.Fatalf("HEAD %s:%s: %v", repo, tag, err)
		}
		if desc.Digest.String() != res.Digest {
			t.Errorf("tag %s has digest %s, want %s (the returned digest)", tag, desc.Digest, res.Digest)
		}
	}
	// The SBOM is pushed beside the image, where sigstore's tools look.
	checkSBOM(t, repo, res.Digest)

	img, err := remote.Image(mustRef(t, res.Ref))
	if err != nil {
		t.Fatalf("pull %s: %v", res.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("config", func(t *testing.T) {
		if cfg.Config.User != "65532" {
			t.Errorf("User = %q, want %q", cfg.Config.User, "65532")
		}
		if diff := cmp.Diff([]string{"/ko-app/" + fixture.Reference}, cfg.Config.Entrypoint); diff != "" {
			t.Errorf("Entrypoint (-want +got):\n%s", diff)
		}
		if cfg.OS != "linux" || cfg.Architecture != "amd64" {
			t.Errorf("platform = %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
		}
		if !cfg.Created.Time.Equal(testCommitTime) {
			t.Errorf("Created = %v, want the commit time %v", cfg.Created.Time, testCommitTime)
		}
		env := cfg.Config.Env
		if !slices.Contains(env, "KO_DATA_PATH=/var/run/ko") {
			t.Errorf("Env = %q, want KO_DATA_PATH=/var/run/ko", env)
		}
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "PATH=") && strings.HasSuffix(e, ":/ko-app") }) {
			t.Errorf("Env = %q, want a PATH ending in :/ko-app", env)
		}
		for _, h := range cfg.History {
			if !h.Created.Time.Equal(testCommitTime) && !h.Created.Time.Equal(baseEpoch) {
				t.Errorf("history entry %q has time %v, want the commit time or the base's fixed time", h.CreatedBy, h.Created.Time)
			}
		}
	})

	t.Run("labels and annotations", func(t *testing.T) {
		want := map[string]string{
			AnnotationSource:   testSource,
			AnnotationRevision: testCommit,
			AnnotationVersion:  testVersion,
			AnnotationCreated:  "2024-05-01T12:00:00Z",
		}
		if diff := cmp.Diff(want, cfg.Config.Labels); diff != "" {
			t.Errorf("config labels (-want +got):\n%s", diff)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for k := range want {
			got[k] = m.Annotations[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("manifest annotations (-want +got):\n%s", diff)
		}
		if b := m.Annotations["org.opencontainers.image.base.name"]; b != repo+"/base:"+LocalBaseTag {
			t.Errorf("base name annotation = %q, want %q", b, repo+"/base:"+LocalBaseTag)
		}
	})

	t.Run("binary reports the injected version", func(t *testing.T) {
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			t.Skipf("the image is linux/amd64; this host is %s/%s", runtime.GOOS, runtime.GOARCH)
		}
		bin := extract(t, img, "ko-app/"+fixture.Reference)
		got := runVersion(t, bin)
		// Since when it runs is the process's, not the build's.
		if _, err := time.Parse(time.RFC3339, got["started"]); err != nil {
			t.Errorf("GET /version started = %q, want the time the process started", got["started"])
		}
		delete(got, "started")
		want := map[string]string{"version": testVersion, "commit": testCommit}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET /version (-want +got):\n%s", diff)
		}
	})
}

// TestImageReproducible guards the promise that one commit gives one
// digest: a rebuild must not pick up the build time or a temporary path.
func TestImageReproducible(t *testing.T) {
	addr := newRegistry(t, nil)
	opts := testOptions(t, addr)
	first, err := Image(context.Background(), opts)
	if err != nil {
		t.Fatalf("first Image: %v", err)
	}
	second, err := Image(context.Background(), opts)
	if err != nil {
		t.Fatalf("second Image: %v", err)
	}
	if first.Digest != second.Digest {
		t.Errorf("two builds of commit %s gave digests %s and %s, want one", testCommit, first.Digest, second.Digest)
	}
}

// TestImageMultiPlatform guards the arm64 path for home clusters: two
// platforms must give an index listing both, each with a matching config.
func TestImageMultiPlatform(t *testing.T) {
	addr := newRegistry(t, nil)
	opts := testOptions(t, addr)
	opts.Platforms = []string{"linux/amd64,linux/arm64"}
	// What is under test is the index ko makes, not the service's code: a
	// program of the runtime alone builds for arm64 without compiling the
	// standard library's network stack for it, the most of this test's
	// time on a machine whose build cache is empty.
	tiny(t, filepath.Join(opts.Dir, opts.Main))
	res, err := Image(context.Background(), opts)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	idx, err := remote.Index(mustRef(t, res.Ref))
	if err != nil {
		t.Fatalf("pull index %s: %v", res.Ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		got = append(got, d.Platform.String())
		checkSBOM(t, opts.Repo, d.Digest.String())
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if p := cfg.Platform().String(); p != d.Platform.String() {
			t.Errorf("image listed for %s has config platform %s", d.Platform, p)
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, got); diff != "" {
		t.Errorf("index platforms (-want +got):\n%s", diff)
	}
	if im.Annotations[AnnotationRevision] != testCommit {
		t.Errorf("index annotation %s = %q, want %q", AnnotationRevision, im.Annotations[AnnotationRevision], testCommit)
	}
}

// TestImageBaseReference guards the production path, where the base comes
// from a registry by a digest-pinned reference (here a mirror on loopback,
// since tests stay offline).
func TestImageBaseReference(t *testing.T) {
	addr := newRegistry(t, nil)
	base, err := localBase([]v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	baseDigest, err := base.Digest()
	if err != nil {
		t.Fatal(err)
	}
	baseRef := addr + "/mirror/static:nonroot@" + baseDigest.String()
	if err := remote.WriteIndex(mustRef(t, baseRef), base); err != nil {
		t.Fatalf("push base: %v", err)
	}

	opts := testOptions(t, addr)
	opts.Base = baseRef
	res, err := Image(context.Background(), opts)
	if err != nil {
		t.Fatalf("Image on %s: %v", baseRef, err)
	}
	if res.Base != baseRef {
		t.Errorf("Image().Base = %q, want %q", res.Base, baseRef)
	}
	img, err := remote.Image(mustRef(t, res.Ref))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	// ko records the repository and digest; the tag is only a reminder.
	if got, want := m.Annotations["org.opencontainers.image.base.name"], addr+"/mirror/static@"+baseDigest.String(); got != want {
		t.Errorf("base name annotation = %q, want %q", got, want)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532" {
		t.Errorf("User = %q, want the base's 65532", cfg.Config.User)
	}
}

// TestImageToLocalRegistry guards local mode end to end: what one command
// publishes to the embedded registry, a later command can still pull after
// the first one has stopped it.
func TestImageToLocalRegistry(t *testing.T) {
	dir := t.TempDir()
	reg, err := localregistry.Start(context.Background(), localregistry.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Image(context.Background(), testOptions(t, reg.Addr()))
	reg.Close()
	if err != nil {
		t.Fatalf("Image: %v", err)
	}

	// The image reference keeps the old address; ask the restarted registry
	// for the same repository path.
	again, err := localregistry.Start(context.Background(), localregistry.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	ref := strings.Replace(res.Ref, reg.Addr(), again.Addr(), 1)
	img, err := remote.Image(mustRef(t, ref))
	if err != nil {
		t.Fatalf("pull %s after a restart: %v", ref, err)
	}
	if err := validate.Image(img, validate.Fast); err != nil {
		t.Errorf("image after a restart is inconsistent: %v", err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		rc, err := l.Compressed()
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			t.Errorf("layer %s after a restart: %v", d, err)
		}
	}
}

// TestImageRegistryErrors guards the messages a user sees when the registry
// refuses: they name the registry and the cause and never the password.
func TestImageRegistryErrors(t *testing.T) {
	const password = "s3cret-password-value"
	basicAuth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "right-password" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	readOnly := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	stopped := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}

	tests := []struct {
		name string
		addr func(t *testing.T) string
		want error
	}{
		{name: "wrong password", addr: func(t *testing.T) string { return newRegistry(t, basicAuth) }, want: ErrUnauthorized},
		{name: "no push rights", addr: func(t *testing.T) string { return newRegistry(t, readOnly) }, want: ErrDenied},
		{name: "registry down", addr: stopped, want: ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr(t)
			opts := testOptions(t, addr)
			opts.Username, opts.Password = "ci", password
			_, err := Image(context.Background(), opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Image against %s: error = %v, want %v", addr, err, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, addr) {
				t.Errorf("error %q does not name the registry %s", msg, addr)
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q contains the password", msg)
			}
		})
	}
}

func TestImageRejectsIncompleteOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{name: "no repo", change: func(o *Options) { o.Repo = "" }, want: "Repo"},
		{name: "no commit", change: func(o *Options) { o.Commit = "" }, want: "Commit"},
		{name: "password without user", change: func(o *Options) { o.Password = "x" }, want: "username"},
		{name: "bad platform", change: func(o *Options) { o.Platforms = []string{"linux/amd64/v3/extra"} }, want: "platform"},
		{name: "bad repo", change: func(o *Options) { o.Repo = "Upper/Case" }, want: "KO_DOCKER_REPO"},
		{name: "unknown main", change: func(o *Options) { o.Main = "./tools" }, want: "not a directory"},
		{name: "no main", change: func(o *Options) { o.Main = "" }, want: "no main package"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, "127.0.0.1:1")
			tt.change(&opts)
			_, err := Image(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Image with %s: error = %v, want one containing %q", tt.name, err, tt.want)
			}
		})
	}
}

// extract copies file (a path in the image, without the leading slash) out
// of img's flattened filesystem into an executable temporary file.
func extract(t *testing.T, img v1.Image, file string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("image has no %s", file)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "/") != file {
			continue
		}
		out := filepath.Join(t.TempDir(), filepath.Base(file))
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// runVersion starts the service binary on a free loopback port and returns
// its GET /version body.
func runVersion(t *testing.T, bin string) map[string]string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PORT=" + port, "SHUTDOWN_DRAIN=0s"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()

	url := "http://127.0.0.1:" + port + "/version"
	// Startup takes milliseconds; the deadline only bounds a broken binary.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			defer resp.Body.Close()
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("GET %s: decode: %v", url, err)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v; service stderr:\n%s", url, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkImage measures a warm publish: the Go build cache holds the
// service and the registry already has the base and every layer.
func BenchmarkImage(b *testing.B) {
	root := module(b)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	opts := Options{
		Dir:        root,
		Repo:       strings.TrimPrefix(srv.URL, "http://") + "/platform-demo",
		Version:    testVersion,
		Commit:     testCommit,
		CommitTime: testCommitTime,
		Base:       BaseLocal,
		Keychain:   anonymous,
	}
	if _, err := Image(context.Background(), opts); err != nil {
		b.Fatalf("Image: %v", err)
	}
	for b.Loop() {
		if _, err := Image(context.Background(), opts); err != nil {
			b.Fatalf("Image: %v", err)
		}
	}
}
