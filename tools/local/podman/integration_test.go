//go:build integration

package podman

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// The build identity the test publishes and expects /version to report.
const (
	itVersion = "1234567"
	itCommit  = "1234567890abcdef1234567890abcdef12345678"
)

// itRepoRoot is the repository this file lives in: the test builds the real
// service and plays the real gitops Deployment.
func itRepoRoot(t *testing.T) string {
	t.Helper()
	return inputstest.Need(t, inputs.Services, inputs.Build, inputs.Gitops)
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// podmanOut runs podman as Play does, with its containers.conf, outside the
// package code under test.
func podmanOut(ctx context.Context, conf string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, tail(string(ee.Stderr)))
	}
	return string(out), err
}

// TestIntegrationPlay publishes the service to a loopback registry, plays the
// gitops Deployment under podman with the image rewritten, and checks what
// only a real runtime shows: the process runs as uid 65532 on a read-only
// root filesystem, and the image reports the commit it was built from.
func TestIntegrationPlay(t *testing.T) {
	for _, bin := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: skipping the podman integration test (apt-get install podman runc)", bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	root := itRepoRoot(t)

	reg, err := registry.Start(ctx, registry.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	pub, err := publish.Image(ctx, publish.Options{
		Dir:        root,
		Main:       "services/platform-demo",
		Repo:       reg.Addr() + "/platform-demo",
		Version:    itVersion,
		Commit:     itCommit,
		CommitTime: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Base:       publish.BaseLocal,
		Keychain:   authn.NewMultiKeychain(), // anonymous: no Docker config of the machine
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	manifest, err := os.ReadFile(filepath.Join(root, "gitops", "manifests", "platform-demo", "00-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// A name of its own keeps the test from replacing a pod that a local
	// run of the product serves on the same machine.
	opts := Options{
		Manifest:  manifest,
		Image:     pub.Ref,
		Container: "platform-demo",
		Name:      fmt.Sprintf("platform-demo-it-%d", os.Getpid()),
		Dir:       t.TempDir(),
		Logger:    log,
	}
	// The pulled image stays in podman's storage otherwise, under a new name
	// for every registry port. Registered first, it runs after Down.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := podmanOut(ctx, filepath.Join(opts.Dir, ConfigFile), "rmi", "--ignore", pub.Ref); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	var pod Pod
	// Registered before Play so a failure anywhere below still removes the
	// pod; Down of a removed pod is a no-op.
	t.Cleanup(func() {
		if pod.Name == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pod.Down(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	pod, err = Play(ctx, opts)
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	t.Logf("pod %s, container %s, %s, ready in %s", pod.Name, pod.Container, pod.URL, pod.Ready)

	out, err := podmanOut(ctx, pod.Config, "container", "inspect", pod.Container)
	if err != nil {
		t.Fatal(err)
	}
	var inspected []struct {
		Config     struct{ User string }
		HostConfig struct {
			ReadonlyRootfs bool
			SecurityOpt    []string
		}
		EffectiveCaps []string
		State         struct{ Running bool }
	}
	if err := json.Unmarshal([]byte(out), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("decode podman container inspect (%v):\n%s", err, out)
	}
	c := inspected[0]
	if c.Config.User != "65532:65532" {
		t.Errorf("container user = %q, want 65532:65532 (runAsUser, runAsGroup)", c.Config.User)
	}
	if !c.HostConfig.ReadonlyRootfs {
		t.Errorf("container ReadonlyRootfs = false, want true (readOnlyRootFilesystem)")
	}
	if len(c.EffectiveCaps) != 0 {
		t.Errorf("container capabilities = %v, want none (drop ALL)", c.EffectiveCaps)
	}
	if !strings.Contains(strings.Join(c.HostConfig.SecurityOpt, ","), "no-new-privileges") {
		t.Errorf("container security options = %v, want no-new-privileges (allowPrivilegeEscalation false)", c.HostConfig.SecurityOpt)
	}
	// The process itself, as the kernel sees it; without a user namespace
	// (rootful podman) the host uid is the container's.
	if os.Geteuid() == 0 {
		top, err := podmanOut(ctx, pod.Config, "top", pod.Container, "huser", "hgroup")
		if err != nil {
			t.Fatal(err)
		}
		if fields := strings.Fields(top); len(fields) != 4 || fields[2] != "65532" || fields[3] != "65532" {
			t.Errorf("podman top %s huser hgroup =\n%s\nwant one process as 65532:65532", pod.Container, top)
		}
	}

	resp, err := http.Get(pod.URL + "/version")
	if err != nil {
		t.Fatalf("GET /version: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v struct{ Version, Commit string }
	if err := json.Unmarshal(body, &v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /version = %d %q, want 200 and JSON (%v)", resp.StatusCode, body, err)
	}
	if v.Commit != itCommit || v.Version != itVersion {
		t.Errorf("GET /version = %+v, want version %s commit %s", v, itVersion, itCommit)
	}

	down := time.Now()
	if err := pod.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("Down took %s", time.Since(down).Round(time.Millisecond))
	gone := pod
	pod = Pod{} // nothing left for the cleanup to remove
	cmd := exec.CommandContext(ctx, "podman", "pod", "exists", gone.Name)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+gone.Config)
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("podman pod exists %s after Down: %v, want exit status 1 (no such pod)", gone.Name, err)
	}
	if _, err := http.Get(gone.URL + "/version"); err == nil {
		t.Errorf("GET %s/version answered after Down", gone.URL)
	}
}
