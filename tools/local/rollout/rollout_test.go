package rollout

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

var (
	fakeOnce sync.Once
	fakeBin  []byte
	fakeErr  error
)

// fakeService compiles testdata/fakesvc once per test binary.
func fakeService(t *testing.T) []byte {
	t.Helper()
	// go build reads the source; opening it here lets the test cache see it.
	inputstest.Track(t, "testdata/fakesvc")
	fakeOnce.Do(func() {
		out := filepath.Join(os.TempDir(), "rollout-fakesvc-"+strings.ReplaceAll(t.Name(), "/", "_"))
		cmd := exec.Command("go", "build", "-o", out, "./testdata/fakesvc")
		if b, err := cmd.CombinedOutput(); err != nil {
			fakeErr = errors.New(string(b))
			return
		}
		defer os.Remove(out)
		fakeBin, fakeErr = os.ReadFile(out)
	})
	if fakeErr != nil {
		t.Fatalf("build fakesvc: %v", fakeErr)
	}
	return fakeBin
}

// pushImage pushes an image whose entrypoint is the fake service, started
// with env, and returns its reference by digest.
func pushImage(t *testing.T, host, repo string, env ...string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	bin := fakeService(t)
	if err := tw.WriteHeader(&tar.Header{Name: "app/fakesvc", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{Entrypoint: []string{"/app/fakesvc"}, Env: env}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String()).String()
}

func liveVersion(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/version")
	if err != nil {
		t.Fatalf("GET /version: %v", err)
	}
	defer resp.Body.Close()
	var v map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode /version: %v", err)
	}
	return v
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// TestApply guards the rollout's promise: the new version is live and the
// old process is gone when Apply returns, and a version that fails to start
// leaves the running one serving.
func TestApply(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	v1Ref := pushImage(t, host, "svc", "VERSION=v1")
	v2Ref := pushImage(t, host, "svc", "VERSION=v2")
	broken := pushImage(t, host, "svc", "VERSION=v3", "FAIL=1")

	ctx := context.Background()
	r, err := Start(ctx, Options{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)

	addr := strings.TrimPrefix(r.URL(), "http://")
	if !Serving(ctx, addr) {
		t.Errorf("Serving(%s) = false for a running rollout", addr)
	}
	if Serving(ctx, host) {
		t.Errorf("Serving(%s) = true for a registry, want false", host)
	}
	resp, err := http.Get(r.URL() + "/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before the first Apply: status %d, want 503", resp.StatusCode)
	}

	first, err := r.Apply(ctx, Spec{Image: v1Ref, Env: []string{"GREETING=hello"}})
	if err != nil {
		t.Fatalf("Apply(v1) error = %v", err)
	}
	if got := liveVersion(t, r.URL()); got["version"] != "v1" || got["greeting"] != "hello" {
		t.Errorf("after Apply(v1): /version = %v, want version v1 and the manifest's GREETING", got)
	}

	again, err := r.Apply(ctx, Spec{Image: v1Ref})
	if err != nil || again.Changed || again.PID != first.PID {
		t.Errorf("Apply(v1) again = %+v, %v; want unchanged, same pid %d", again, err, first.PID)
	}

	second, err := r.Apply(ctx, Spec{Image: v2Ref})
	if err != nil {
		t.Fatalf("Apply(v2) error = %v", err)
	}
	if got := liveVersion(t, r.URL()); got["version"] != "v2" {
		t.Errorf("after Apply(v2): version %q, want v2", got["version"])
	}
	if second.Previous != v1Ref || second.PreviousPID != first.PID || !processGone(first.PID) {
		t.Errorf("Apply(v2) = %+v; want previous %s (pid %d) stopped", second, v1Ref, first.PID)
	}

	_, err = r.Apply(ctx, Spec{Image: broken})
	if err == nil || !strings.Contains(err.Error(), "bad configuration: FAIL is set") {
		t.Errorf("Apply(broken) error = %v, want the process's own message from its log", err)
	}
	if got := liveVersion(t, r.URL()); got["version"] != "v2" {
		t.Errorf("after a failed Apply: version %q, want v2 still live", got["version"])
	}

	// The seed manifest names ghcr.io; the local rollout must not reach out.
	_, err = r.Apply(ctx, Spec{Image: "ghcr.io/andrelair-platform/platform-demo:latest"})
	var remoteErr *RemoteImageError
	if !errors.As(err, &remoteErr) {
		t.Errorf("Apply(ghcr.io image) error = %v, want a RemoteImageError", err)
	}

	if err := r.Close(ctx); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if !processGone(second.PID) {
		t.Errorf("after Close: pid %d still running", second.PID)
	}
}

func TestSpecFromManifest(t *testing.T) {
	const deploy = `# comment
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: platform-demo
spec:
  template:
    spec:
      containers:
        - name: sidecar
          image: busybox
        - name: platform-demo
          image: 127.0.0.1:5055/platform-demo:abc
          args: ["--flag"]
          env:
            - name: MESSAGE
              value: hi there
`
	tests := []struct {
		name      string
		manifest  string
		container string
		want      Spec
		wantErr   string
	}{
		{name: "multi-document", manifest: deploy, container: "platform-demo",
			want: Spec{Image: "127.0.0.1:5055/platform-demo:abc", Args: []string{"--flag"}, Env: []string{"MESSAGE=hi there"}}},
		{name: "container missing", manifest: deploy, container: "web", wantErr: `no container "web"; found Deployment/platform-demo: sidecar, platform-demo`},
		{name: "no workload", manifest: "kind: Service\n", container: "x", wantErr: "none of 1 documents is a Deployment, StatefulSet"},
		// The same reader as the bump's: every workload with a pod
		// template, not only Deployments.
		{name: "statefulset", manifest: strings.Replace(deploy, "kind: Deployment", "kind: StatefulSet", 1), container: "platform-demo",
			want: Spec{Image: "127.0.0.1:5055/platform-demo:abc", Args: []string{"--flag"}, Env: []string{"MESSAGE=hi there"}}},
		{name: "valueFrom", manifest: strings.Replace(deploy, "value: hi there", "valueFrom: {secretKeyRef: {name: s, key: k}}", 1), container: "platform-demo", wantErr: "valueFrom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SpecFromManifest([]byte(tt.manifest), tt.container)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SpecFromManifest() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SpecFromManifest() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
