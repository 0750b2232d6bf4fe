package bump

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// ghFixture is a GitHub server with a gitops repository holding the
// deployment, and a source history of commits, each the parent of the next.
type ghFixture struct {
	srv     *githubtest.Server
	commits []string
	history *history
}

// history answers ancestry questions as `git merge-base --is-ancestor`
// would, from each commit's parent, and counts the questions.
type history struct {
	mu      sync.Mutex
	parent  map[string]string
	queries int
}

func newHistory(commits []string) *history {
	h := &history{parent: map[string]string{}}
	for i := 1; i < len(commits); i++ {
		h.parent[commits[i]] = commits[i-1]
	}
	return h
}

func (h *history) add(commit, parent string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.parent[commit] = parent
}

func (h *history) IsAncestor(_ context.Context, ancestor, descendant string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queries++
	for c := descendant; c != ""; c = h.parent[c] {
		if c == ancestor {
			return true, nil
		}
	}
	return false, nil
}

func (h *history) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queries
}

func newGHFixture(t testing.TB, n int, opts ...githubtest.Option) *ghFixture {
	t.Helper()
	srv := githubtest.New(opts...)
	t.Cleanup(srv.Close)
	srv.AddToken(goodToken, githubtest.Token{Login: "ci", Scopes: []string{"repo"}})
	srv.CreateRepo(gitopsRepo, "main", map[string]string{DefaultPath: deployment, "README.md": "gitops\n"})
	commits := chain(n)
	return &ghFixture{srv: srv, commits: commits, history: newHistory(commits)}
}

// options bumps the image built from commit i.
func (f *ghFixture) options(i int) Options {
	return Options{
		Repo:         gitopsRepo,
		Token:        goodToken,
		APIURL:       f.srv.URL,
		Image:        imageFor(f.commits[i]),
		SourceCommit: f.commits[i],
		Ancestry:     f.history,
	}
}

func (f *ghFixture) file(t testing.TB) []byte {
	t.Helper()
	b, ok := f.srv.File(gitopsRepo, "main", DefaultPath)
	if !ok {
		t.Fatal("manifest missing from the gitops repository")
	}
	return b
}

const contentsPath = "/repos/" + gitopsRepo + "/contents/" + DefaultPath

func TestGitHubBump(t *testing.T) {
	ctx := context.Background()
	f := newGHFixture(t, 2)
	opts := f.options(0)
	opts.SkipCI = true

	res, err := Image(ctx, opts)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	if res.Outcome != Committed || !res.Changed {
		t.Fatalf("Image() = %+v, want a commit", res)
	}
	log := f.srv.Log(gitopsRepo, "main")
	if res.Commit != log[0].SHA {
		t.Errorf("Image().Commit = %s, want the branch head %s", res.Commit, log[0].SHA)
	}
	if !strings.HasSuffix(res.URL, "/acme/gitops/commit/"+res.Commit) {
		t.Errorf("Image().URL = %q, want the commit page", res.URL)
	}
	if want := "ci(platform-demo): deploy " + opts.SourceCommit[:7] + " [skip ci]\n"; !strings.HasPrefix(log[0].Message, want) || !strings.Contains(log[0].Message, "Source-Commit: "+opts.SourceCommit) {
		t.Errorf("commit message = %q, want %q", log[0].Message, want)
	}
	// No author given: the commit is the token's, as an App's bot commits.
	if log[0].Author != "ci" {
		t.Errorf("commit author = %q, want the token's login %q", log[0].Author, "ci")
	}
	want, _, err := manifest.Edit([]byte(deployment), manifest.Change{Container: DefaultContainer, Image: opts.Image, SourceCommit: opts.SourceCommit})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.file(t); string(got) != string(want) {
		t.Errorf("manifest after bump = %q, want %q", got, want)
	}
	if got := f.srv.Requests(); got != 2 {
		t.Errorf("requests on the first bump = %d (%v), want 2 (GET and PUT)", got, f.srv.Counts())
	}
	if res.Previous != "ghcr.io/stefanprodan/podinfo:6.11.2" {
		t.Errorf("Image().Previous = %q, want the bootstrap image", res.Previous)
	}

	// Bumping again must not make an empty commit.
	f.srv.ResetCounts()
	again, err := Image(ctx, opts)
	if err != nil {
		t.Fatalf("second Image: %v", err)
	}
	if again.Outcome != UpToDate || again.Changed {
		t.Errorf("second Image() = %+v, want up-to-date", again)
	}
	if n := len(f.srv.Log(gitopsRepo, "main")); n != len(log) {
		t.Errorf("second bump made %d commits, want 0", n-len(log))
	}
	if got := f.srv.Count("PUT", contentsPath); got != 0 {
		t.Errorf("second bump sent %d PUTs, want 0", got)
	}
	if got := f.file(t); string(got) != string(want) {
		t.Errorf("manifest after two bumps = %q, want the same as after one %q", got, want)
	}

	// The next commit is newer: one ancestry question, then the write.
	f.srv.ResetCounts()
	next, err := Image(ctx, f.options(1))
	if err != nil || next.Outcome != Committed {
		t.Fatalf("Image(next commit) = %+v, %v; want a commit", next, err)
	}
	if got := f.history.count(); got != 1 {
		t.Errorf("ancestry questions = %d, want 1", got)
	}
	if got := f.srv.Requests(); got != 2 {
		t.Errorf("requests for the next commit = %d (%v), want 2 (GET and PUT)", got, f.srv.Counts())
	}
}

// TestGitHubBaseURL guards against appending api/v3 to the API URL:
// Gitea and GitHub Enterprise serve the API under a path of their own.
func TestGitHubBaseURL(t *testing.T) {
	f := newGHFixture(t, 1, githubtest.WithBasePath("/api/v1/"))
	opts := f.options(0)
	opts.APIURL = strings.TrimSuffix(f.srv.URL, "/")
	opts.Ancestry = nil
	res, err := Image(context.Background(), opts)
	if err != nil || res.Outcome != Committed {
		t.Fatalf("Image(APIURL %s) = %+v, %v; want a commit", opts.APIURL, res, err)
	}
}

func TestGitHubDryRun(t *testing.T) {
	f := newGHFixture(t, 1)
	opts := f.options(0)
	opts.DryRun = true
	res, err := Image(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != DryRun || !res.Changed || res.Commit != "" {
		t.Errorf("Image(dry run) = %+v, want a dry run with a change and no commit", res)
	}
	for _, want := range []string{
		"--- a/" + DefaultPath,
		"-          image: ghcr.io/stefanprodan/podinfo:6.11.2   # bootstrap image\n",
		"+          image: " + opts.Image + "   # bootstrap image\n",
		"+        platform-demo.dev/source-commit: " + opts.SourceCommit + "\n",
	} {
		if !strings.Contains(res.Diff, want) {
			t.Errorf("Image(dry run).Diff = %s\nwant it to contain %q", res.Diff, want)
		}
	}
	if got := f.srv.Count("PUT", contentsPath); got != 0 {
		t.Errorf("dry run sent %d PUTs, want 0", got)
	}
	if got := f.file(t); string(got) != deployment {
		t.Errorf("dry run changed the manifest to %q", got)
	}
}

// TestGitHubStaleSHA guards the compare-and-swap: a write that lost the race
// is re-read and re-applied on top of the winner, whether the server says
// 409 (GitHub) or 422 "sha does not match" (Gitea).
func TestGitHubStaleSHA(t *testing.T) {
	for _, status := range []int{http.StatusConflict, http.StatusUnprocessableEntity} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newGHFixture(t, 1, githubtest.WithStaleSHAStatus(status))
			var once sync.Once
			f.srv.OnRequest(func(r *http.Request) {
				if r.Method == http.MethodPut {
					once.Do(func() {
						edited := strings.Replace(deployment, "replicas: 2", "replicas: 3", 1)
						f.srv.CommitFiles(gitopsRepo, "main", "scale to 3", map[string]string{DefaultPath: edited})
					})
				}
			})
			res, err := Image(context.Background(), f.options(0))
			if err != nil {
				t.Fatalf("Image: %v", err)
			}
			if res.Outcome != Committed || res.Attempts != 2 {
				t.Errorf("Image() = %+v, want a commit on attempt 2", res)
			}
			got := f.file(t)
			if !strings.Contains(string(got), "replicas: 3") {
				t.Errorf("the concurrent change was lost:\n%s", got)
			}
			if cur := readBack(t, got); cur.Image != f.options(0).Image {
				t.Errorf("image after bump = %q, want %q", cur.Image, f.options(0).Image)
			}
			if got := f.srv.Count("PUT", contentsPath); got != 2 {
				t.Errorf("PUTs = %d, want 2", got)
			}
		})
	}
}

func TestGitHubRateLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit githubtest.Limit
	}{
		{"primary", githubtest.Limit{Kind: githubtest.PrimaryLimit, After: time.Second}},
		{"secondary", githubtest.Limit{Kind: githubtest.SecondaryLimit, After: time.Second}},
		{"429", githubtest.Limit{Kind: githubtest.TooManyRequests, After: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGHFixture(t, 1)
			f.srv.RateLimit(tt.limit)
			res, err := Image(context.Background(), f.options(0))
			if err != nil {
				t.Fatalf("Image: %v", err)
			}
			if res.Outcome != Committed || res.Attempts != 1 {
				t.Errorf("Image() = %+v, want a commit after waiting, on attempt 1", res)
			}
			if got := f.srv.Count("GET", contentsPath); got != 2 {
				t.Errorf("GETs = %d, want 2 (limited, then served)", got)
			}
		})
	}

	t.Run("deadline before reset", func(t *testing.T) {
		f := newGHFixture(t, 1)
		f.srv.RateLimit(githubtest.Limit{Kind: githubtest.SecondaryLimit, After: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Image(ctx, f.options(0))
		if err == nil || !strings.Contains(err.Error(), "rate limit") {
			t.Errorf("Image() error = %v, want a rate limit error", err)
		}
	})
}

// TestGitHubErrors checks that each failure names its cause and its fix and
// never shows the token.
func TestGitHubErrors(t *testing.T) {
	const (
		fineGrained = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV"
		readOnly    = "ghp_readonlyreadonlyreadonlyreadonly00"
		noScope     = "ghp_packagespackagespackagespackages00"
		fgReadOnly  = "github_pat_readonly_0123456789abcdefghijklmnopqrstuvwxyz"
		otherRepos  = "ghp_otherotherotherotherotherotherother"
	)
	tests := []struct {
		name   string
		modify func(*Options)
		want   []string
	}{
		{"bad fine-grained token", func(o *Options) { o.Token = fineGrained }, []string{"401", "Bad credentials", "fine-grained", "classic PAT with the repo scope"}},
		{"fine-grained without write", func(o *Options) { o.Token = fgReadOnly }, []string{"403", "Contents: Read and write"}},
		{"classic without repo scope", func(o *Options) { o.Token = noScope }, []string{"403", "repo scope", "read:packages"}},
		{"no push access", func(o *Options) { o.Token = readOnly }, []string{"403", "push access"}},
		{"repository not found", func(o *Options) { o.Repo = "acme/nope" }, []string{"404", "repository acme/nope not found", "GITOPS_REPO"}},
		{"repository hidden from token", func(o *Options) { o.Token = otherRepos }, []string{"404", "cannot see it"}},
		{"branch not found", func(o *Options) { o.Branch = "prod" }, []string{"404", `branch "prod" not found`, "GITOPS_BRANCH"}},
		{"path not found", func(o *Options) { o.Path = "manifests/nope.yaml" }, []string{"404", "manifests/nope.yaml not found", "GITOPS_PATH"}},
		{"container not found", func(o *Options) { o.Container = "web" }, []string{"container not found", "platform-demo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGHFixture(t, 1)
			f.srv.AddToken(fgReadOnly, githubtest.Token{ReadOnly: true})
			f.srv.AddToken(readOnly, githubtest.Token{Scopes: []string{"repo"}, ReadOnly: true})
			f.srv.AddToken(noScope, githubtest.Token{Scopes: []string{"read:packages"}, ReadOnly: true})
			f.srv.AddToken(otherRepos, githubtest.Token{Scopes: []string{"repo"}, Repos: []string{sourceRepo}})
			opts := f.options(0)
			tt.modify(&opts)
			_, err := Image(context.Background(), opts)
			if err == nil {
				t.Fatal("Image() succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Image() error = %q\nwant it to mention %q", err, w)
				}
			}
			if opts.Token != "" && len(opts.Token) > 1 && strings.Contains(err.Error(), opts.Token) {
				t.Errorf("Image() error shows the token: %q", err)
			}
			if got := f.srv.Count("PUT", contentsPath); got > 1 {
				t.Errorf("PUTs = %d, want at most 1: auth errors must not be retried", got)
			}
		})
	}
}

// TestGitHubRefusesFakeTokens guards the seed's costliest trap: a token
// that cannot be real (`gh secret set --body -` stores "-") is refused with
// the fix spelled out, before any request, and the message is not mangled
// by redacting the one-character value.
func TestGitHubRefusesFakeTokens(t *testing.T) {
	const fix = `printf '%s' "$VALUE" | gh secret set GITOPS_TOKEN`
	tests := []struct {
		name, token string
		want        []string
	}{
		{"empty", "", []string{"no credentials to write acme/gitops", "GITOPS_APP_ID", "GITOPS_TOKEN"}},
		{"dash", "-", []string{`GITOPS_TOKEN is the literal "-" (1 character)`, "`gh secret set GITOPS_TOKEN --body -` stores", fix}},
		{"dash and newline", "-\n", []string{`the literal "-\n"`, fix}},
		{"trailing newline", goodToken + "\n", []string{"ends with a newline", "`echo", fix}},
		{"quoted", `"` + goodToken + `"`, []string{"wrapped in quotes", fix}},
		{"placeholder", "changeme", []string{"too short to be real", fix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGHFixture(t, 1)
			opts := f.options(0)
			opts.Token = tt.token
			_, err := Image(context.Background(), opts)
			if err == nil {
				t.Fatal("Image() succeeded, want the token refused")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Image() error = %q\nwant it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "***") {
				t.Errorf("Image() error = %q: redaction rewrote the message", err)
			}
			if n := f.srv.Requests(); n != 0 {
				t.Errorf("requests = %d (%v), want 0: the token must be refused before anything is sent", n, f.srv.Counts())
			}
		})
	}
}

// TestGitHubGuard checks that an older pipeline cannot replace a newer image
// and that Force (BUMP_FORCE) can.
func TestGitHubGuard(t *testing.T) {
	ctx := context.Background()
	f := newGHFixture(t, 3)
	if _, err := Image(ctx, f.options(2)); err != nil {
		t.Fatal(err)
	}
	deployed := f.file(t)

	res, err := Image(ctx, f.options(1))
	if err != nil {
		t.Fatalf("Image(older) error = %v, want the newer-deployed outcome", err)
	}
	if res.Outcome != NewerDeployed || res.PreviousCommit != f.commits[2] {
		t.Errorf("Image(older) = %+v, want newer-deployed with previous commit %s", res, f.commits[2])
	}
	if got := f.file(t); string(got) != string(deployed) {
		t.Errorf("Image(older) changed the manifest")
	}

	noAncestry := f.options(1)
	noAncestry.Ancestry = nil
	if _, err := Image(ctx, noAncestry); err == nil || !strings.Contains(err.Error(), "BUMP_FORCE") {
		t.Errorf("Image(no ancestry) error = %v, want one that suggests BUMP_FORCE", err)
	}

	f.history.add(strings.Repeat("e", 40), f.commits[0])
	diverged := f.options(1)
	diverged.SourceCommit, diverged.Image = strings.Repeat("e", 40), imageFor(strings.Repeat("e", 40))
	if _, err := Image(ctx, diverged); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Errorf("Image(diverged) error = %v, want a diverged-history error", err)
	}

	rollback := f.options(1)
	rollback.Force = true
	res, err = Image(ctx, rollback)
	if err != nil || res.Outcome != Committed {
		t.Fatalf("Image(older, Force) = %+v, %v; want a commit", res, err)
	}
	if cur := readBack(t, f.file(t)); cur.SourceCommit != f.commits[1] {
		t.Errorf("after a forced rollback the manifest deploys %s, want %s", cur.SourceCommit, f.commits[1])
	}
}

// TestGitHubRace runs 20 bumps of commits of one history at once. Whatever
// the interleaving, the newest commit must win, every caller must succeed
// or learn that a newer commit is deployed, and no commit on the gitops
// branch may replace a newer source commit with an older one.
// TestGitHubRace guards concurrent bumps on every host: each converges on
// the newest commit and none fails, whether the host refuses a stale blob
// sha (GitHub's 409, Gitea's 422) or a write that lost the race for the
// branch ref (GitHub's 409 "is at … but expected …", Gitea's 403 "cannot
// lock ref"), which the stand-in produces with a window between its sha
// check and the ref update.
func TestGitHubRace(t *testing.T) {
	hosts := []struct {
		name string
		opts []githubtest.Option
	}{
		{"GitHub, atomic writes", nil},
		{"GitHub, lost ref races", []githubtest.Option{githubtest.WithRefLockWindow(20 * time.Millisecond)}},
		{"Gitea", []githubtest.Option{githubtest.WithGitea(), githubtest.WithBasePath("/api/v1/")}},
	}
	for _, h := range hosts {
		t.Run(h.name, func(t *testing.T) {
			f := newGHFixture(t, 20, h.opts...)
			start := time.Now()
			outcomes := raceBumps(t, len(f.commits), f.options)
			t.Logf("20 concurrent bumps converged in %s: %v; %d requests", time.Since(start).Round(time.Millisecond), outcomes, f.srv.Requests())

			if cur := readBack(t, f.file(t)); cur.SourceCommit != f.commits[19] || cur.Image != imageFor(f.commits[19]) {
				t.Errorf("after the race the manifest deploys %s (%s), want the newest %s", cur.SourceCommit, cur.Image, f.commits[19])
			}
			var history [][]byte
			for _, c := range f.srv.Log(gitopsRepo, "main") {
				history = append([][]byte{[]byte(c.Files[DefaultPath])}, history...)
			}
			checkMonotonic(t, history, f.commits)
		})
	}
}

// raceBumps runs n bumps concurrently, opts(i) for i in [0, n), and fails
// the test unless each one commits, finds the manifest up to date, or finds
// a newer commit deployed.
func raceBumps(t *testing.T, n int, opts func(int) Options) map[Outcome]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes = map[Outcome]int{}
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := Image(ctx, opts(i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("bump of commit %d: %v", i, err)
			case res.Outcome != Committed && res.Outcome != NewerDeployed && res.Outcome != UpToDate:
				t.Errorf("bump of commit %d = %+v, want committed, up-to-date or newer-deployed", i, res)
			}
			outcomes[res.Outcome]++
			t.Logf("commit %2d: %s after %d attempts", i, res.Outcome, res.Attempts)
		}()
	}
	wg.Wait()
	return outcomes
}

// checkMonotonic fails unless the source commit recorded by each successive
// version of the manifest is at least as new as the one before.
func checkMonotonic(t *testing.T, versions [][]byte, commits []string) {
	t.Helper()
	index := map[string]int{"": -1}
	for i, c := range commits {
		index[c] = i
	}
	last := -1
	for n, v := range versions {
		cur := readBack(t, v)
		i, ok := index[cur.SourceCommit]
		if !ok {
			t.Fatalf("version %d records unknown source commit %q", n, cur.SourceCommit)
		}
		if i < last {
			t.Errorf("version %d deploys commit %d after commit %d: an older image replaced a newer one", n, i, last)
		}
		last = i
	}
}

// BenchmarkGitHubBump measures a first bump of a file (no source commit
// recorded yet) and reports the API calls it takes: a GET and a PUT.
func BenchmarkGitHubBump(b *testing.B) {
	f := newGHFixture(b, 1)
	ctx := context.Background()
	calls, n := 0, 0
	for b.Loop() {
		f.srv.CreateRepo(gitopsRepo, "main", map[string]string{DefaultPath: deployment})
		f.srv.ResetCounts()
		if _, err := Image(ctx, f.options(0)); err != nil {
			b.Fatal(err)
		}
		calls += f.srv.Requests()
		n++
	}
	if calls != 2*n {
		b.Errorf("API calls = %d over %d bumps, want 2 per bump (GET and PUT)", calls, n)
	}
	b.ReportMetric(float64(calls)/float64(n), "calls/op")
}
