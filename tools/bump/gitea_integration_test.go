//go:build integration

package bump

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/giteatest"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/internal/syncbuf"
)

// TestIntegrationGitea runs the bump against a real Gitea 1.26 on
// loopback, through the real go-github client, as platform-bot (a
// collaborator with write access) on a private repository of the
// andrelair-platform organisation seeded with the gitops template's
// manifest. Each case reads what it did back through Gitea's API.
func TestIntegrationGitea(t *testing.T) {
	root := inputstest.Need(t, inputs.Gitops)
	seed, err := os.ReadFile(filepath.Join(root, "gitops", DefaultPath))
	if err != nil {
		t.Fatal(err)
	}
	srv := giteatest.Start(t)
	source, commits := newSourceRepo(t, t.TempDir(), 16)
	// Real Gitea answers a write in about 300 ms here: ask it about the
	// merge five times a second, not fifty.
	defer func(poll time.Duration) { mergePoll = poll }(mergePoll)
	mergePoll = 200 * time.Millisecond

	repos := 0
	newRepo := func(t *testing.T) string {
		repos++
		repo := fmt.Sprintf("andrelair-platform/minicloud-gitops-%d", repos)
		srv.CreateRepo(t, repo, map[string]string{DefaultPath: string(seed)})
		return repo
	}
	options := func(repo string, i int) Options {
		return Options{
			Repo: repo, Token: srv.BotToken, APIURL: srv.URL,
			Image: imageFor(commits[i]), SourceCommit: commits[i], Ancestry: GitAncestry{Dir: source},
		}
	}
	deployed := func(t *testing.T, repo, branch string) string {
		t.Helper()
		return readBack(t, srv.File(t, repo, branch, DefaultPath)).SourceCommit
	}
	ctx := context.Background()
	timed := func(t *testing.T) func() {
		start := time.Now()
		return func() { t.Logf("took %s", time.Since(start).Round(time.Millisecond)) }
	}

	t.Run("push, re-run, older commit", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		res, err := Image(ctx, options(repo, 1))
		if err != nil || res.Outcome != Committed {
			t.Fatalf("Image() = %+v, %v; want a commit", res, err)
		}
		if got := deployed(t, repo, "main"); got != commits[1] {
			t.Errorf("main deploys %s, want %s", got, commits[1])
		}
		msgs := srv.Commits(t, repo, "main")
		if !strings.HasPrefix(msgs[0], "ci(platform-demo): deploy "+commits[1][:7]) || !strings.Contains(res.URL, "/commit/"+res.Commit) {
			t.Errorf("last commit %q (URL %s), want the bump's message and page", msgs[0], res.URL)
		}

		again, err := Image(ctx, options(repo, 1))
		if err != nil || again.Outcome != UpToDate || len(srv.Commits(t, repo, "main")) != len(msgs) {
			t.Errorf("re-run = %+v, %v; want up to date and no commit (Gitea commits an unchanged file)", again, err)
		}
		older, err := Image(ctx, options(repo, 0))
		if err != nil || older.Outcome != NewerDeployed || deployed(t, repo, "main") != commits[1] {
			t.Errorf("older commit = %+v, %v; want it to stand down, main at %s", older, err, commits[1][:7])
		}
	})

	t.Run("five concurrent bumps", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcomes, attempts := map[Outcome]int{}, 0
		var logs syncbuf.Buffer
		for i := 2; i < 7; i++ {
			wg.Go(func() {
				o := options(repo, i)
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				res, err := Image(ctx, o)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("bump of commit %d: %v", i, err)
				}
				outcomes[res.Outcome]++
				attempts += res.Attempts
			})
		}
		wg.Wait()
		t.Logf("outcomes %v, %d attempts in all; lost races for the ref: %d, stale shas: %d", outcomes, attempts,
			strings.Count(logs.String(), "cannot lock ref"), strings.Count(logs.String(), "sha does not match"))
		if got := deployed(t, repo, "main"); got != commits[6] {
			t.Errorf("after the race main deploys %s, want the newest, %s", got, commits[6])
		}
		if outcomes[Committed] == 0 || outcomes[Committed]+outcomes[NewerDeployed] != 5 {
			t.Errorf("outcomes %v, want every bump to commit or stand down for a newer one", outcomes)
		}
	})

	t.Run("protected branch in push mode", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		srv.Protect(t, repo, "main", giteatest.Protection{})
		_, err := Image(ctx, options(repo, 7))
		if err == nil {
			t.Fatal("Image() to a protected branch succeeded")
		}
		t.Logf("Image() error: %v", err)
		for _, w := range []string{"branch main is protected", "403 user cannot commit to repo", "BUMP_MODE=pr"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Image() error = %q, want it to say %q", err, w)
			}
		}
	})

	t.Run("pull requests: open, found again, superseded", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		srv.Protect(t, repo, "main", giteatest.Protection{})
		pr := func(i int) Options {
			o := options(repo, i)
			o.Mode = ModePR
			return o
		}
		first, err := Image(ctx, pr(7))
		if err != nil || first.Outcome != Proposed || first.PR == 0 {
			t.Fatalf("Image(pr) = %+v, %v; want a pull request", first, err)
		}
		if got := deployed(t, repo, first.Branch); got != commits[7] || deployed(t, repo, "main") != "" {
			t.Errorf("the pull request's branch deploys %s and main %s; want %s on the branch only", got, deployed(t, repo, "main"), commits[7])
		}
		again, err := Image(ctx, pr(7))
		if err != nil || again.PR != first.PR {
			t.Errorf("re-run = %+v, %v; want pull request #%d found again", again, err, first.PR)
		}
		newer, err := Image(ctx, pr(8))
		if err != nil || newer.Outcome != Proposed || len(newer.Superseded) != 1 || newer.Superseded[0] != first.PR {
			t.Fatalf("Image(newer) = %+v, %v; want a pull request superseding #%d", newer, err, first.PR)
		}
		older, err := Image(ctx, pr(7))
		if err != nil || older.Outcome != NewerDeployed || older.NewerPR != newer.PR {
			t.Errorf("Image(older) = %+v, %v; want it to stand down for #%d", older, err, newer.PR)
		}
		open := 0
		for _, p := range srv.Pulls(t, repo) {
			if p.State == "open" {
				open++
				if p.Number != newer.PR {
					t.Errorf("pull request #%d is open, want only #%d", p.Number, newer.PR)
				}
			}
		}
		if open != 1 {
			t.Errorf("%d pull requests open, want 1", open)
		}
		if branches := srv.Branches(t, repo); strings.Contains(strings.Join(branches, " "), first.Branch) {
			t.Errorf("branches %v: the superseded branch %s is left", branches, first.Branch)
		}
	})

	t.Run("merge, no check required", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		srv.Protect(t, repo, "main", giteatest.Protection{})
		o := options(repo, 9)
		o.Mode, o.Merge, o.MergeTimeout = ModePR, true, time.Minute
		var logs syncbuf.Buffer
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		res, err := Image(ctx, o)
		if err != nil || res.Outcome != Merged {
			t.Fatalf("Image(merge) = %+v, %v; want merged", res, err)
		}
		t.Logf("%s\n%s", logs.String(), res)
		if got := deployed(t, repo, "main"); got != commits[9] {
			t.Errorf("main deploys %s after the merge, want %s", got, commits[9])
		}
		if branches := srv.Branches(t, repo); len(branches) != 1 {
			t.Errorf("branches %v after the merge, want main alone", branches)
		}
	})

	t.Run("merge waits for a required check", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		srv.Protect(t, repo, "main", giteatest.Protection{StatusChecks: []string{"ci/test"}})
		o := options(repo, 10)
		o.Mode, o.Merge, o.MergeTimeout = ModePR, true, 2*time.Minute
		var logs syncbuf.Buffer
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		done := make(chan struct{})
		var res Result
		var err error
		go func() {
			defer close(done)
			res, err = Image(ctx, o)
		}()
		head := waitPull(t, srv, repo)
		time.Sleep(time.Second) // the bump waits, and keeps asking
		srv.SetStatus(t, repo, head.Head.SHA, "ci/test", "success")
		passed := time.Now()
		<-done
		t.Logf("merged %s after the check passed\n%s", time.Since(passed).Round(time.Millisecond), logs.String())
		if err != nil || res.Outcome != Merged || deployed(t, repo, "main") != commits[10] {
			t.Fatalf("Image(merge) = %+v, %v; want merged once the check passed, main at %s", res, err, commits[10][:7])
		}
	})

	t.Run("merge times out on a pending check", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		srv.Protect(t, repo, "main", giteatest.Protection{StatusChecks: []string{"ci/test"}})
		o := options(repo, 11)
		o.Mode, o.Merge, o.MergeTimeout = ModePR, true, 3*time.Second
		res, err := Image(ctx, o)
		if err == nil || res.PR == 0 {
			t.Fatalf("Image(merge) = %+v, %v; want a timeout naming the pull request", res, err)
		}
		t.Logf("Image() error: %v", err)
		for _, w := range []string{"still not merged after 3s", "405 Not all required status checks successful", "nothing is scheduled to merge it", "BUMP_MERGE_TIMEOUT"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Image() error = %q, want it to say %q", err, w)
			}
		}
		notArmed(t, srv, repo, res.PR)
	})

	t.Run("interrupted while waiting for the merge", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		srv.Protect(t, repo, "main", giteatest.Protection{StatusChecks: []string{"ci/test"}})
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		o := options(repo, 12)
		o.Mode, o.Merge, o.MergeTimeout = ModePR, true, time.Minute
		go func() {
			waitPull(t, srv, repo)
			time.Sleep(time.Second)
			cancel() // Ctrl-C
		}()
		res, err := Image(ctx, o)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "nothing is scheduled to merge it") {
			t.Fatalf("Image() = %+v, %v; want it interrupted, naming the pull request left open", res, err)
		}
		t.Logf("Image() error: %v", err)
		notArmed(t, srv, repo, res.PR)
	})

	t.Run("interrupted before the pull request opens", func(t *testing.T) {
		defer timed(t)()
		repo := newRepo(t)
		srv.Protect(t, repo, "main", giteatest.Protection{})
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		o := options(repo, 13)
		o.Mode = ModePR
		o.HTTPClient = &http.Client{Transport: &interrupter{next: http.DefaultTransport, cancel: cancel,
			at: func(r *http.Request) bool {
				return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/pulls")
			}}}
		_, err := Image(ctx, o)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "was deleted again") {
			t.Fatalf("Image() error = %v; want it interrupted, its branch deleted", err)
		}
		t.Logf("Image() error: %v", err)
		if branches := srv.Branches(t, repo); len(branches) != 1 || len(srv.Pulls(t, repo)) != 0 {
			t.Errorf("branches %v, %d pull requests; want main alone and none", branches, len(srv.Pulls(t, repo)))
		}
	})
}

// waitPull waits for the first pull request of repo to open and be tested.
func waitPull(t *testing.T, srv *giteatest.Server, repo string) giteatest.Pull {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if pulls := srv.Pulls(t, repo); len(pulls) > 0 && pulls[0].Mergeable {
			return pulls[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("no pull request opened in %s", repo)
	return giteatest.Pull{}
}

// notArmed checks that pull request n stays open and unmerged when its
// check passes, and that Gitea has no merge scheduled for it.
func notArmed(t *testing.T, srv *giteatest.Server, repo string, n int) {
	t.Helper()
	var head string
	for _, p := range srv.Pulls(t, repo) {
		if p.Number == n {
			head = p.Head.SHA
		}
	}
	srv.SetStatus(t, repo, head, "ci/test", "success")
	time.Sleep(3 * time.Second) // Gitea carried out a scheduled merge within 2 s here
	for _, p := range srv.Pulls(t, repo) {
		if p.Number == n && (p.State != "open" || p.Merged) {
			t.Errorf("pull request #%d is %s (merged %v) after its check passed, want it open: a merge was left armed", n, p.State, p.Merged)
		}
	}
	if a := srv.As(t, false, "DELETE", fmt.Sprintf("repos/%s/pulls/%d/merge", repo, n), nil); a.Status != http.StatusNotFound {
		t.Errorf("cancel a scheduled merge of #%d = %s, want 404: none scheduled", n, a)
	}
}
