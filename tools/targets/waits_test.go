package targets_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/targets"
)

// TestLosingRollbackStopsAtOnce guards a rollback that loses the race to
// the manifest: another bump replaces what it committed while it verifies,
// and it stops as soon as git says so, instead of waiting VERIFY_TIMEOUT
// for a commit nothing will deploy.
func TestLosingRollbackStopsAtOnce(t *testing.T) {
	w := newWorld(t)
	w.deploy(stagingPath, w.images[1], w.commits[1])
	w.live.Store(w.commits[1]) // the rollout never gets to the rollback
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		stdout, stderr, err := w.run(context.Background(), map[string]string{"VERIFY_TIMEOUT": "2m"}, func(ctx context.Context, e targets.Env) error {
			return targets.Rollback(ctx, e, targets.RollbackArgs{})
		})
		done <- result{stdout + stderr, err}
	}()
	for !strings.Contains(w.gitops("log", "-1", "--format=%s", "main"), "roll back to") {
		select {
		case r := <-done:
			t.Fatalf("rollback ended before its commit: %v\n%s", r.err, r.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	w.deploy(stagingPath, w.images[1], w.commits[1])
	r := <-done
	want := "the manifest of platform-demo in staging no longer deploys " + w.commits[0][:7] + ": it deploys " + w.commits[1][:7] + " since gitops "
	if r.err == nil || !strings.Contains(r.err.Error(), want) {
		t.Errorf("losing rollback = %v, want %q\n%s", r.err, want, r.out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("losing rollback took %s, want it to stop within seconds of git moving on", d)
	}
}

// TestInterruptedCheck guards Ctrl-C during promote's check of the
// environment before: it is reported as an interruption, and nothing is
// promoted.
func TestInterruptedCheck(t *testing.T) {
	w := newWorld(t)
	w.live.Store(w.commits[1]) // staging answers another commit: the check polls on
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	before := w.manifest(productionPath)
	stdout, stderr, err := w.run(ctx, nil, func(ctx context.Context, e targets.Env) error { return targets.Promote(ctx, e, "production", nil, nil) })
	want := "interrupted while checking that platform-demo in staging runs " + w.commits[0][:7] + ": nothing was promoted"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(stdout, "is not verified") {
		t.Errorf("promote interrupted = %v, want %q\n%s%s", err, want, stdout, stderr)
	}
	if w.manifest(productionPath) != before {
		t.Errorf("an interrupted promotion changed production's manifest")
	}
}

// TestSecondPromoteChangesNothing guards the summary of a promotion run
// twice: the second says nothing changed, not what it replaced.
func TestSecondPromoteChangesNothing(t *testing.T) {
	w := newWorld(t)
	promote := func(ctx context.Context, e targets.Env) error { return targets.Promote(ctx, e, "production", nil, nil) }
	if stdout, stderr, err := w.run(context.Background(), nil, promote); err != nil || !strings.Contains(stdout, "replaced: ") {
		t.Fatalf("first promote: %v\n%s%s", err, stdout, stderr)
	}
	stdout, stderr, err := w.run(context.Background(), nil, promote)
	want := "nothing changed: production deployed " + w.commits[0][:7] + " (" + w.images[0] + ") already"
	if err != nil || !strings.Contains(stdout, want) || strings.Contains(stdout, "replaced:") {
		t.Errorf("second promote: %v; want %q and no replaced line\n%s%s", err, want, stdout, stderr)
	}
}

// TestPullRequestAdviceNamesTheCheck guards the advice of a promotion in
// pull-request mode: `go tool mage verify` checks HEAD on staging, so what
// proves production after the merge is status.
func TestPullRequestAdviceNamesTheCheck(t *testing.T) {
	w := newWorld(t)
	const token = "ghp_prmodetest0123456789abcdefghijklmnop"
	staging, _, err := manifest.Edit([]byte(w.manifest(stagingPath)), manifest.Change{Container: "platform-demo", Image: w.images[0], SourceCommit: w.commits[0]})
	if err != nil {
		t.Fatal(err)
	}
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.CreateRepo("o/gitops", "main", map[string]string{stagingPath: string(staging), productionPath: w.manifest(productionPath)})
	gh.AddToken(token, githubtest.Token{Login: "bot", Scopes: []string{"repo"}})
	gh.Protect("o/gitops", "main")
	gh.RequireChecks("o/gitops", "main")
	api := map[string]string{"GITOPS_REPO": "o/gitops", "GITHUB_API_URL": gh.URL, "GITOPS_TOKEN": token, "BUMP_MODE": "pr"}
	promote := func(ctx context.Context, e targets.Env) error { return targets.Promote(ctx, e, "production", nil, nil) }

	stdout, stderr, err := w.run(context.Background(), api, promote)
	want := "after it, go tool mage status -service=platform-demo shows whether production answers it (in sync); or set BUMP_MERGE=1"
	if err != nil || !strings.Contains(stdout, want) || strings.Contains(stdout, "mage verify") {
		t.Errorf("promote in PR mode: %v; want %q\n%s%s", err, want, stdout, stderr)
	}

	api["BUMP_MERGE"], api["BUMP_MERGE_TIMEOUT"] = "1", "100ms"
	stdout, stderr, err = w.run(context.Background(), api, promote)
	want = "merge it on the host and then go tool mage status -service=platform-demo shows whether production answers it (in sync), close it, or raise BUMP_MERGE_TIMEOUT"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "mage verify") {
		t.Errorf("promote in PR mode, merge timed out: %v; want %q\n%s%s", err, want, stdout, stderr)
	}
}

// TestStatusHintsAtTheLocalLoop guards the hint status gives when a local
// rollout does not answer: to start `mage local` only when nothing serves
// it, and what deploys the environment when `mage local` serves it with
// nothing rolled out.
func TestStatusHintsAtTheLocalLoop(t *testing.T) {
	w := newWorld(t)
	free := func() string {
		port, err := loopback.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	served, idle := free(), free()
	ro, err := rollout.Start(context.Background(), rollout.Options{Addr: served, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close(context.Background()) })
	local := map[string]string{"GITOPS_REPO": "", "KO_DOCKER_REPO": "", "VERIFY_URL": "", "VERIFY_URL_PRODUCTION": "",
		"LOCAL_ADDR": served, "LOCAL_ADDR_PRODUCTION": idle, "LOCAL_REGISTRY_ADDR": free()}
	stdout, stderr, err := w.run(context.Background(), local, func(ctx context.Context, e targets.Env) error { return targets.Status(ctx, e, nil, nil) })
	for _, want := range []string{
		"503 Service Unavailable",
		"(`go tool mage local` serves it, and has rolled out nothing there yet: go tool mage ci deploys it)",
		"(nothing serves it: the local rollouts run while `go tool mage local` does)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q\n%s%s", want, stdout, stderr)
		}
	}
	if err == nil {
		t.Errorf("status of unreachable environments = nil error, want exit 1")
	}
}
