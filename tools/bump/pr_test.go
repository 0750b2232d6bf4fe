package bump

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
)

// flavors are the hosts the Contents backend speaks to: GitHub (and GitHub
// Enterprise, the same API under another root) and Gitea or Forgejo, which
// create branches and merge pull requests through other endpoints.
var flavors = []struct {
	name string
	opts []githubtest.Option
}{
	{"GitHub", nil},
	{"Gitea", []githubtest.Option{githubtest.WithGitea(), githubtest.WithBasePath("/api/v1/")}},
}

func init() { mergePoll = 20 * time.Millisecond }

// TestProtectedBranchNamesPRMode guards the first thing a strict org runs
// into: a direct write to a protected branch fails with an error that names
// the protection and the setting that works, whatever status the host uses.
func TestProtectedBranchNamesPRMode(t *testing.T) {
	for _, fl := range flavors {
		t.Run(fl.name, func(t *testing.T) {
			f := newGHFixture(t, 1, fl.opts...)
			f.srv.Protect(gitopsRepo, "main")
			_, err := Image(context.Background(), f.options(0))
			if err == nil {
				t.Fatal("Image() to a protected branch succeeded")
			}
			for _, w := range []string{"branch main is protected", "BUMP_MODE=pr"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Image() error = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestPRMode walks a protected branch through the life of bump pull
// requests: opened, found again on a re-run, superseded by a newer commit,
// an older commit standing down, and a merge that waits for the checks.
func TestPRMode(t *testing.T) {
	for _, fl := range flavors {
		t.Run(fl.name, func(t *testing.T) {
			ctx := context.Background()
			f := newGHFixture(t, 3, fl.opts...)
			f.srv.Protect(gitopsRepo, "main")
			pr := func(i int) Options {
				o := f.options(i)
				o.Mode, o.SourceURL, o.By = ModePR, "https://github.com/acme/platform-demo", "go tool mage ci in a test"
				return o
			}
			base := string(f.file(t))

			first, err := Image(ctx, pr(0))
			if err != nil || first.Outcome != Proposed || first.PR == 0 || !strings.Contains(first.PRURL, "/pull") {
				t.Fatalf("Image(pr) = %+v, %v; want a pull request opened", first, err)
			}
			if got := string(f.file(t)); got != base {
				t.Errorf("the protected branch changed before any merge")
			}
			pulls := f.srv.Pulls(gitopsRepo)
			if len(pulls) != 1 || pulls[0].Head != "bump/platform-demo-"+f.commits[0][:7] || pulls[0].Base != "main" {
				t.Fatalf("pull requests = %+v, want one from bump/platform-demo-%s into main", pulls, f.commits[0][:7])
			}
			for _, w := range []string{"```diff", f.commits[0][:7], "https://github.com/acme/platform-demo/commit/" + f.commits[0], "go tool mage ci in a test", "ci(platform-demo): deploy " + f.commits[0][:7]} {
				if !strings.Contains(pulls[0].Body+pulls[0].Title, w) {
					t.Errorf("pull request title and body lack %q:\n%s\n%s", w, pulls[0].Title, pulls[0].Body)
				}
			}
			if head, ok := f.srv.File(gitopsRepo, pulls[0].Head, DefaultPath); !ok || readBack(t, head).SourceCommit != f.commits[0] {
				t.Errorf("the bump's branch does not deploy %s", f.commits[0])
			}

			again, err := Image(ctx, pr(0))
			if err != nil || again.Outcome != Proposed || again.PR != first.PR || len(f.srv.Pulls(gitopsRepo)) != 1 {
				t.Errorf("re-run = %+v, %v (%d pull requests); want pull request #%d found again", again, err, len(f.srv.Pulls(gitopsRepo)), first.PR)
			}

			second, err := Image(ctx, pr(1))
			if err != nil || second.Outcome != Proposed || second.PR == first.PR || len(second.Superseded) != 1 || second.Superseded[0] != first.PR {
				t.Fatalf("Image(newer) = %+v, %v; want a new pull request superseding #%d", second, err, first.PR)
			}
			for _, p := range f.srv.Pulls(gitopsRepo) {
				if p.Number == first.PR && p.State != "closed" {
					t.Errorf("the superseded pull request #%d is %s, want closed", p.Number, p.State)
				}
			}
			if c := f.srv.Comments(gitopsRepo, first.PR); len(c) != 1 || !strings.Contains(c[0], "Superseded by #") {
				t.Errorf("comments on the superseded pull request = %q, want one naming its successor", c)
			}

			older, err := Image(ctx, pr(0))
			if err != nil || older.Outcome != NewerDeployed || older.NewerPR != second.PR {
				t.Errorf("Image(older) = %+v, %v; want it to stand down for #%d", older, err, second.PR)
			}

			// The newest commit, merged as soon as the branch's checks pass.
			f.srv.RequireChecks(gitopsRepo, "main")
			var once sync.Once
			merging := pr(2)
			merging.Merge, merging.MergeTimeout = true, time.Minute
			done := make(chan struct{})
			go func() {
				defer close(done)
				// The checks pass a moment after the pull request is opened.
				for {
					for _, p := range f.srv.Pulls(gitopsRepo) {
						if p.State == "open" && strings.HasSuffix(p.Head, f.commits[2][:7]) {
							time.Sleep(100 * time.Millisecond)
							once.Do(func() { f.srv.PassChecks(gitopsRepo, p.Number) })
							return
						}
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			merged, err := Image(ctx, merging)
			<-done
			if err != nil || merged.Outcome != Merged || merged.Commit == "" {
				t.Fatalf("Image(merge) = %+v, %v; want the pull request merged", merged, err)
			}
			if cur := readBack(t, f.file(t)); cur.SourceCommit != f.commits[2] || cur.Image != merging.Image {
				t.Errorf("after the merge the branch deploys %s from %s, want %s from %s", cur.Image, cur.SourceCommit, merging.Image, f.commits[2])
			}
			if log := f.srv.Log(gitopsRepo, "main"); !strings.Contains(log[0].Message, "Source-Commit: "+f.commits[2]) {
				t.Errorf("the merge commit's message %q does not name the source commit", log[0].Message)
			}
		})
	}
}

// TestPRModeMerge guards BUMP_MERGE=1 on a branch that requires no checks:
// the pull request merges at once on GitHub, and on Gitea as soon as Gitea
// has tested it for conflicts (it answers "Please try again later" until
// then), without a merge scheduled on the host.
func TestPRModeMerge(t *testing.T) {
	for _, fl := range flavors {
		t.Run(fl.name, func(t *testing.T) {
			f := newGHFixture(t, 1, fl.opts...)
			f.srv.Protect(gitopsRepo, "main")
			o := f.options(0)
			o.Mode, o.Merge, o.MergeTimeout = ModePR, true, time.Minute
			res, err := Image(context.Background(), o)
			if err != nil || res.Outcome != Merged {
				t.Fatalf("Image(merge) = %+v, %v; want merged", res, err)
			}
			if cur := readBack(t, f.file(t)); cur.SourceCommit != f.commits[0] {
				t.Errorf("after the merge main deploys %s, want %s", cur.SourceCommit, f.commits[0])
			}
			if p := f.srv.Pulls(gitopsRepo); len(p) != 1 || !p[0].Merged || p[0].AutoMerge {
				t.Errorf("pull requests = %+v, want one merged by the bump, none scheduled", p)
			}
		})
	}
}

// TestPRModeMergeTimeout guards a branch whose checks never pass: the bump
// ends with the pull request's address and what it waits for, and leaves
// no merge scheduled that would deploy it later with nobody verifying it.
func TestPRModeMergeTimeout(t *testing.T) {
	for _, fl := range flavors {
		t.Run(fl.name, func(t *testing.T) {
			f := newGHFixture(t, 1, fl.opts...)
			f.srv.Protect(gitopsRepo, "main")
			f.srv.RequireChecks(gitopsRepo, "main")
			o := f.options(0)
			o.Mode, o.Merge, o.MergeTimeout = ModePR, true, 200*time.Millisecond
			res, err := Image(context.Background(), o)
			if err == nil || res.PR == 0 {
				t.Fatalf("Image() = %+v, %v; want the open pull request named", res, err)
			}
			for _, w := range []string{"still not merged", res.PRURL, "nothing is scheduled to merge it", "BUMP_MERGE_TIMEOUT"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Image() error = %q, want it to say %q", err, w)
				}
			}
			leftUnmerged(t, f, res.PR)
		})
	}
}

// leftUnmerged checks that pull request n is open with no merge scheduled,
// and that passing its checks does not merge it.
func leftUnmerged(t *testing.T, f *ghFixture, n int) {
	t.Helper()
	f.srv.PassChecks(gitopsRepo, n)
	time.Sleep(50 * time.Millisecond)
	for _, p := range f.srv.Pulls(gitopsRepo) {
		if p.Number == n && (p.State != "open" || p.Merged || p.AutoMerge) {
			t.Errorf("pull request #%d = %+v, want it open and unmerged, with no merge scheduled", n, p)
		}
	}
}

// TestPRModeInterrupted guards Ctrl-C in PR mode: it is reported as an
// interruption, not as a host that does not answer, and leaves neither a
// merge scheduled nor a branch without a pull request; what it does leave
// is named.
func TestPRModeInterrupted(t *testing.T) {
	isPut := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/contents/")
	}
	isOpen := func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/pulls")
	}
	isRead := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/pulls/")
	}
	tests := []struct {
		name string
		// at says which request the interruption comes with; after, that
		// it comes once the host has answered, whose answer is lost.
		at    func(*http.Request) bool
		after bool
		merge bool
		// left says what the error names as left behind.
		left string
		// branch says whether the bump's branch remains, and pull whether
		// a pull request does.
		branch, pull bool
	}{
		{"while writing the branch", isPut, false, false, "was deleted again", false, false},
		{"before the pull request is opened", isOpen, false, false, "was deleted again", false, false},
		{"as the pull request is opened", isOpen, true, false, "was opened nonetheless and is left open, unmerged", true, true},
		{"while waiting for the merge", isRead, false, true, "stays open and unmerged, and nothing is scheduled to merge it", true, true},
	}
	for _, fl := range flavors {
		for _, tt := range tests {
			t.Run(fl.name+" "+tt.name, func(t *testing.T) {
				f := newGHFixture(t, 1, fl.opts...)
				f.srv.Protect(gitopsRepo, "main")
				f.srv.RequireChecks(gitopsRepo, "main")
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				o := f.options(0)
				o.Mode, o.Merge, o.MergeTimeout = ModePR, tt.merge, time.Minute
				o.HTTPClient = &http.Client{Transport: &interrupter{next: http.DefaultTransport, at: tt.at, after: tt.after, cancel: cancel}}
				res, err := Image(ctx, o)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Image() = %+v, %v; want it interrupted", res, err)
				}
				if !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), tt.left) || strings.Contains(err.Error(), "GITHUB_API_URL") {
					t.Errorf("Image() error = %q, want it to say it was interrupted and %q", err, tt.left)
				}
				branch := "bump/platform-demo-" + f.commits[0][:7]
				if _, ok := f.srv.File(gitopsRepo, branch, DefaultPath); ok != tt.branch {
					t.Errorf("branch %s left: %v, want %v", branch, ok, tt.branch)
				}
				pulls := f.srv.Pulls(gitopsRepo)
				if (len(pulls) == 1) != tt.pull || len(pulls) > 1 {
					t.Fatalf("pull requests = %+v, want one: %v", pulls, tt.pull)
				}
				if tt.pull {
					leftUnmerged(t, f, pulls[0].Number)
				}
			})
		}
	}
}

// interrupter cancels a context, as Ctrl-C does, at the first request at
// matches: before it is sent, or after with its answer lost.
type interrupter struct {
	next   http.RoundTripper
	at     func(*http.Request) bool
	after  bool
	cancel context.CancelFunc
	once   sync.Once
}

func (i *interrupter) RoundTrip(r *http.Request) (*http.Response, error) {
	fire := false
	if i.at(r) {
		i.once.Do(func() { fire = true })
	}
	if fire && !i.after {
		i.cancel()
		return nil, context.Canceled
	}
	resp, err := i.next.RoundTrip(r)
	if fire && err == nil {
		resp.Body.Close()
		i.cancel()
		return nil, context.Canceled
	}
	return resp, err
}

var (
	appKeyOnce sync.Once
	appKey     *rsa.PrivateKey
)

func testAppKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	appKeyOnce.Do(func() {
		var err error
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return appKey
}

// TestApp guards the GitHub App path: the bump mints an installation token
// for the gitops repository alone, with the permissions of its mode, and
// every setup mistake is named with its fix.
func TestApp(t *testing.T) {
	key := testAppKey(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		app     forge.App
		install bool
		mode    string
		perms   map[string]string
		err     []string
	}{
		{name: "push", app: forge.App{ID: 42, Key: key}, install: true, mode: ModePush, perms: map[string]string{"contents": "write"}},
		{name: "pull request", app: forge.App{ID: 42, Key: key}, install: true, mode: ModePR, perms: map[string]string{"contents": "write", "pull_requests": "write"}},
		{name: "not installed on the repository", app: forge.App{ID: 42, Key: key}, mode: ModePush, err: []string{"App 42 is not installed on acme/gitops", "Only select repositories"}},
		{name: "key of another App", app: forge.App{ID: 42, Key: other}, install: true, mode: ModePush, err: []string{"not a key of App 42"}},
		{name: "unknown App id", app: forge.App{ID: 7, Key: key}, install: true, mode: ModePush, err: []string{"no App has the id 7", "GITOPS_APP_ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGHFixture(t, 1)
			f.srv.AddApp(42, &key.PublicKey)
			if tt.install {
				f.srv.InstallApp(42, 4242, gitopsRepo, "acme/other")
			}
			o := f.options(0)
			o.Token, o.App, o.Mode = "", &tt.app, tt.mode
			res, err := Image(context.Background(), o)
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("Image() = %+v, want an error", res)
				}
				for _, w := range tt.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Image() error = %q, want it to mention %q", err, w)
					}
				}
				return
			}
			if err != nil || (res.Outcome != Committed && res.Outcome != Proposed) {
				t.Fatalf("Image() = %+v, %v", res, err)
			}
			minted := f.srv.Minted()
			if len(minted) != 1 || len(minted[0].Repositories) != 1 || minted[0].Repositories[0] != gitopsRepo {
				t.Fatalf("minted tokens = %+v, want one for %s alone", minted, gitopsRepo)
			}
			for k, v := range tt.perms {
				if minted[0].Permissions[k] != v {
					t.Errorf("minted permissions = %v, want %s: %s", minted[0].Permissions, k, v)
				}
			}
			if len(minted[0].Permissions) != len(tt.perms) {
				t.Errorf("minted permissions = %v, want exactly %v", minted[0].Permissions, tt.perms)
			}
			if strings.Contains(res.String(), minted[0].Token) {
				t.Errorf("the result shows the installation token")
			}
		})
	}
}

// TestPRModeEnvironments guards two environments in one gitops repository:
// staging's pull request for a newer commit neither stops nor closes
// production's for an older one, and each environment supersedes only its
// own.
func TestPRModeEnvironments(t *testing.T) {
	ctx := context.Background()
	const prodPath = "manifests/platform-demo-production/00-deployment.yaml"
	f := newGHFixture(t, 2)
	f.srv.CreateRepo("acme/envs", "main", map[string]string{DefaultPath: deployment, prodPath: deployment})
	f.srv.Protect("acme/envs", "main")
	in := func(env, path string, i int) Options {
		o := f.options(i)
		o.Repo, o.Path, o.Environment, o.Mode = "acme/envs", path, env, ModePR
		return o
	}
	open := func() map[string]bool {
		heads := map[string]bool{}
		for _, p := range f.srv.Pulls("acme/envs") {
			if p.State == "open" {
				heads[p.Head] = true
			}
		}
		return heads
	}
	staging, err := Image(ctx, in("staging", DefaultPath, 1))
	if err != nil || staging.Outcome != Proposed || staging.Branch != "bump/staging/platform-demo-"+f.commits[1][:7] {
		t.Fatalf("staging bump = %+v, %v; want a pull request from bump/staging/platform-demo-%s", staging, err, f.commits[1][:7])
	}
	older, err := Image(ctx, in("production", prodPath, 0))
	if err != nil || older.Outcome != Proposed {
		t.Fatalf("production bump of an older commit = %+v, %v; want its own pull request, not a stand-down for staging's", older, err)
	}
	newer, err := Image(ctx, in("production", prodPath, 1))
	if err != nil || newer.Outcome != Proposed || len(newer.Superseded) != 1 || newer.Superseded[0] != older.PR {
		t.Fatalf("production bump of the newer commit = %+v, %v; want it to supersede #%d only", newer, err, older.PR)
	}
	if heads := open(); len(heads) != 2 || !heads[staging.Branch] || !heads[newer.Branch] {
		t.Errorf("open pull requests = %v, want staging's %s and production's %s", heads, staging.Branch, newer.Branch)
	}
}
