//go:build integration

package targets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/magetest"
	"github.com/andrelair-platform/platform-demo/tools/internal/syncbuf"
)

// TestIntegrationNewService runs what a newcomer does to add a service, in
// a copy of this repository, with the targets as processes: `mage new`
// while `mage local` serves, which then serves the new service too; commit,
// `mage ci`, and both services are live;
// a change to the new one deploys it alone, and the other keeps its
// process; a docs-only commit deploys nothing.
func TestIntegrationNewService(t *testing.T) {
	src := inputstest.Need(t, inputs.All...)
	dir := t.TempDir()
	copyRepo(t, src, dir)
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "a copy of the repository")
	targets := magetest.CompileCopy(t, dir)

	// Ports from one base: platform-demo's two environments, the
	// registry, hello's two environments.
	base, err := loopback.FreeRun(0, 1, 5, 10, 11)
	if err != nil {
		t.Fatal(err)
	}
	env := append(config.Without(os.Environ()),
		"PIPELINE_STATE_DIR="+filepath.Join(dir, ".state"),
		fmt.Sprintf("LOCAL_ADDR=127.0.0.1:%d", base), fmt.Sprintf("LOCAL_REGISTRY_ADDR=127.0.0.1:%d", base+5),
		// The gate's slow tests ran where this test was started; here the
		// gate is the first stage, as users run it.
		"TEST_SHORT=1")
	mage := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(targets, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("mage %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}

	// mage local serves every service in every environment, as a user
	// keeps it running in a second terminal.
	local := exec.Command(targets, "local")
	local.Dir, local.Env = dir, env
	local.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var localOut syncbuf.Buffer
	local.Stdout, local.Stderr = &localOut, &localOut
	if err := local.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-local.Process.Pid, syscall.SIGINT)
		local.Wait()
		if t.Failed() {
			t.Logf("mage local:\n%s", localOut.String())
		}
	})
	demo, hello := fmt.Sprintf("http://127.0.0.1:%d", base), fmt.Sprintf("http://127.0.0.1:%d", base+10)
	waitServing := func(what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(localOut.String(), "serving the gitops head of "+what+" at") {
			if time.Now().After(deadline) {
				t.Fatalf("mage local does not serve %s:\n%s", what, localOut.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitServing("platform-demo in production")

	// mage new while mage local runs: the new service is served too,
	// without a restart.
	start := time.Now()
	out := mage("new", "hello")
	t.Logf("mage new hello took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "hello: a new service")
	waitServing("hello in staging")
	waitServing("hello in production")

	type summary struct {
		Services []struct{ Service, Result, Commit string } `json:"services"`
	}
	ci := func(step string) map[string]string {
		t.Helper()
		out := mage("ci")
		t.Logf("mage ci, %s:\n%s", step, out)
		b, err := os.ReadFile(filepath.Join(dir, ".state", "ci-summary.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s summary
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range s.Services {
			got[r.Service] = r.Result
		}
		return got
	}
	version := func(url string) map[string]string {
		t.Helper()
		resp, err := http.Get(url + "/version")
		if err != nil {
			t.Fatalf("GET %s/version: %v", url, err)
		}
		defer resp.Body.Close()
		var v map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	head := func() string { return git(t, dir, "rev-parse", "HEAD") }

	if got := ci("after mage new"); got["hello"] != "deployed" || got["platform-demo"] != "deployed" {
		t.Fatalf("first mage ci: %v, want both services deployed", got)
	}
	newCommit := head()
	if v := version(hello); v["commit"] != newCommit {
		t.Errorf("hello /version = %v, want %s, the commit that made it", v, newCommit)
	}
	demoBefore := version(demo)

	main := filepath.Join(dir, "services", "hello", "main.go")
	b, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, bytes.Replace(b, []byte(`"Hello from "`), []byte(`"Hi from "`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "commit", "-q", "-am", "hello: a friendlier greeting")
	if got := ci("after a change to hello"); got["hello"] != "deployed" || got["platform-demo"] != "unchanged" {
		t.Errorf("mage ci after a change to hello: %v, want hello deployed and platform-demo unchanged", got)
	}
	if v := version(hello); v["commit"] != head() {
		t.Errorf("hello /version = %v, want %s", v, head())
	}
	if v := version(demo); v["commit"] != demoBefore["commit"] || v["started"] != demoBefore["started"] {
		t.Errorf("platform-demo /version = %v, want %v: untouched, the same process", v, demoBefore)
	}

	if err := os.WriteFile(filepath.Join(dir, "docs", "hello.md"), []byte("# hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "docs: hello")
	if got := ci("after a docs-only commit"); got["hello"] != "unchanged" || got["platform-demo"] != "unchanged" {
		t.Errorf("mage ci after a docs-only commit: %v, want nothing deployed", got)
	}
}

// copyRepo copies the files git knows in src (tracked, and untracked but
// not ignored) to dst.
func copyRepo(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "git", "-C", src, "ls-files", "-z", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			continue // listed, but deleted in the work tree
		}
		fi, _ := os.Stat(filepath.Join(src, rel))
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
