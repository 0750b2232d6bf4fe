package pipeline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// clone makes a source repository for the pipeline to take live: the
// stand-in service with build settings shaped like the repository's, and
// the repository's own gitops/ template, committed once. It returns its
// root. The service is the stand-in, so that these tests run again when
// the pipeline or the gitops template changes, not on every change to the
// service (which `mage ci` itself takes live).
func clone(t *testing.T) string {
	t.Helper()
	src := filepath.Join(inputs.Need(t, inputs.Gitops), "gitops")
	dst := filepath.Join(t.TempDir(), "platform-demo")
	if _, err := fixture.Module(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dst, "gitops"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	git(t, dst, "init", "-q", "-b", "main")
	commit(t, dst, "initial")
	return dst
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func commit(t *testing.T, dir, msg string) buildinfo.Info {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
	info, err := buildinfo.Read(context.Background(), buildinfo.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// localSettings are the local loop's settings for a clone, on free ports.
func localSettings(t *testing.T, root string) config.Settings {
	t.Helper()
	env := map[string]string{
		"PIPELINE_STATE_DIR":  filepath.Join(root, ".state"),
		"LOCAL_REGISTRY_ADDR": "127.0.0.1:0",
		"LOCAL_ADDR":          "127.0.0.1:0",
		"VERIFY_TIMEOUT":      "2m",
	}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func running(pid int) bool { return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// TestLocalLoop drives the stages after test through the local loop, as
// `mage ci` does: a commit goes live, a second commit replaces it and its
// process, and an older commit is refused by the bump guard.
func TestLocalLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service: skipped with -short")
	}
	// Its own clone, ports and state: it runs beside the others, which
	// spend most of their time waiting for builds and rollouts.
	t.Parallel()
	ctx := context.Background()
	root := clone(t)
	s := localSettings(t, root)
	first, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("run takes a commit live and stops what it started", func(t *testing.T) {
		sum, err := Run(ctx, Options{Settings: s, Build: first})
		if err != nil {
			t.Fatalf("Run() error = %v\n%s", err, sum.Text())
		}
		var names []string
		for _, st := range sum.Stages {
			names = append(names, st.Name+":"+st.Status)
		}
		if got, want := strings.Join(names, " "), "test:skipped build:ok push:ok bump:ok rollout:ok verify:ok"; got != want {
			t.Errorf("stages = %q, want %q", got, want)
		}
		if sum.LiveCommit != first.Commit || sum.Live <= 0 || !strings.Contains(sum.Image, "@sha256:") || len(sum.GitopsCommit) != 40 {
			t.Errorf("summary = %+v, want commit %s live, a digest-pinned image and a gitops commit", sum, first.Commit)
		}
	})

	// One Pipeline across commits, as `mage local` keeps one rollout.
	p := New(s, nil)
	defer p.Close(ctx)
	deploy := func(info buildinfo.Info) (int, int) {
		t.Helper()
		pub, err := p.Publish(ctx, info)
		if err != nil {
			t.Fatalf("Publish(%s) error = %v", info.Version, err)
		}
		b, err := p.Bump(ctx, pub.Ref, info)
		if err != nil || b.Outcome != bump.Committed {
			t.Fatalf("Bump(%s) = %+v, %v", info.Version, b, err)
		}
		res, err := p.Rollout(ctx)
		if err != nil {
			t.Fatalf("Rollout(%s) error = %v", info.Version, err)
		}
		if _, err := p.Verify(ctx, info.Commit); err != nil {
			t.Fatalf("Verify(%s) error = %v", info.Version, err)
		}
		return res.PID, res.PreviousPID
	}

	if err := os.WriteFile(filepath.Join(root, "services/svc/CHANGE"), []byte("second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := commit(t, root, "second")
	secondPID, _ := deploy(second)

	third := commit(t, root, "third")
	thirdPID, previous := deploy(third)
	if previous != secondPID || running(secondPID) {
		t.Errorf("after deploying %s: previous pid %d (want %d) running=%v, want the old version stopped", third.Version, previous, secondPID, running(secondPID))
	}
	live, err := verify.Probe(ctx, nil, p.VerifyURL())
	if err != nil || live.Commit != third.Commit {
		t.Errorf("live /version = %+v, %v; want commit %s", live, err, third.Commit)
	}

	// Re-running the pipeline of an older commit must not roll back.
	pub, err := p.Publish(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Bump(ctx, pub.Ref, second)
	if err != nil || b.Outcome != bump.NewerDeployed {
		t.Fatalf("Bump(older %s) = %+v, %v; want refused because %s is deployed", second.Version, b, err, third.Version)
	}
	if res, err := p.Rollout(ctx); err != nil || res.Changed || res.PID != thirdPID {
		t.Errorf("Rollout after a refused bump = %+v, %v; want pid %d unchanged", res, err, thirdPID)
	}

	// The whole run of an older commit ends well, and deploys nothing.
	sum, err := Run(ctx, Options{Settings: s, Build: second})
	if err != nil {
		t.Fatalf("Run(older %s) error = %v\n%s", second.Version, err, sum.Text())
	}
	var stages []string
	for _, st := range sum.Stages {
		stages = append(stages, st.Name+":"+st.Status)
	}
	if got, want := strings.Join(stages, " "), "test:skipped build:ok push:ok bump:ok deploy:skipped verify:skipped"; got != want {
		t.Errorf("Run(older) stages = %q, want %q\n%s", got, want, sum.Text())
	}
	if live, err := verify.Probe(ctx, nil, p.VerifyURL()); err != nil || live.Commit != third.Commit {
		t.Errorf("after Run(older): live /version = %+v, %v; want %s still", live, err, third.Commit)
	}
}
