package bump

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/git"
)

// runGit runs git for a test fixture, isolated from the user's config.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newBareGitops returns a bare repository whose main branch holds the
// deployment at DefaultPath.
func newBareGitops(t testing.TB, root string) string {
	t.Helper()
	work := filepath.Join(root, "seed")
	bare := filepath.Join(root, "gitops.git")
	runGit(t, root, "init", "-q", "-b", "main", work)
	if err := os.MkdirAll(filepath.Join(work, filepath.Dir(DefaultPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, DefaultPath), []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, work, "add", ".")
	runGit(t, work, "commit", "-q", "-m", "bootstrap")
	runGit(t, root, "init", "-q", "--bare", "-b", "main", bare)
	runGit(t, work, "push", "-q", bare, "main")
	return bare
}

// newSourceRepo returns a repository with a linear history of n commits,
// oldest first.
func newSourceRepo(t testing.TB, root string, n int) (string, []string) {
	t.Helper()
	dir := filepath.Join(root, "source")
	runGit(t, root, "init", "-q", "-b", "main", dir)
	shas := make([]string, n)
	for i := range shas {
		runGit(t, dir, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("change %d", i))
		shas[i] = runGit(t, dir, "rev-parse", "HEAD")
	}
	return dir, shas
}

type gitFixture struct {
	bare, source string
	commits      []string
}

func newGitFixture(t testing.TB, n int) *gitFixture {
	t.Helper()
	root := t.TempDir()
	f := &gitFixture{bare: newBareGitops(t, root)}
	f.source, f.commits = newSourceRepo(t, root, n)
	return f
}

func (f *gitFixture) options(i int) Options {
	return Options{
		Repo:         f.bare,
		Image:        imageFor(f.commits[i]),
		SourceCommit: f.commits[i],
		Ancestry:     GitAncestry{Dir: f.source},
	}
}

func (f *gitFixture) file(t testing.TB) []byte {
	t.Helper()
	return []byte(runGit(t, f.bare, "show", "main:"+DefaultPath) + "\n")
}

func (f *gitFixture) commitCount(t testing.TB) int {
	t.Helper()
	var n int
	fmt.Sscan(runGit(t, f.bare, "rev-list", "--count", "main"), &n)
	return n
}

func TestGitBump(t *testing.T) {
	ctx := context.Background()
	f := newGitFixture(t, 2)
	opts := f.options(0)

	res, err := Image(ctx, opts)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	if res.Outcome != Committed || res.Commit != runGit(t, f.bare, "rev-parse", "main") {
		t.Fatalf("Image() = %+v, want a commit at the head of main", res)
	}
	if got, want := runGit(t, f.bare, "log", "-1", "--format=%an <%ae>|%s", "main"), DefaultAuthor.Name+" <"+DefaultAuthor.Email+">|ci(platform-demo): deploy "+opts.SourceCommit[:7]; got != want {
		t.Errorf("commit = %q, want %q", got, want)
	}
	first := f.file(t)
	if cur := readBack(t, first); cur.Image != opts.Image || cur.SourceCommit != opts.SourceCommit {
		t.Errorf("manifest deploys %+v, want %s from %s", cur, opts.Image, opts.SourceCommit)
	}

	commits := f.commitCount(t)
	again, err := Image(ctx, opts)
	if err != nil || again.Outcome != UpToDate {
		t.Fatalf("second Image() = %+v, %v; want up-to-date", again, err)
	}
	if n := f.commitCount(t); n != commits {
		t.Errorf("second bump made %d commits, want 0", n-commits)
	}
	if got := f.file(t); string(got) != string(first) {
		t.Errorf("manifest after two bumps = %q, want the same as after one %q", got, first)
	}

	// A relative path to the remote works too: the local loop passes
	// .state/gitops.git.
	t.Chdir(filepath.Dir(f.bare))
	rel := f.options(1)
	rel.Repo = "./" + filepath.Base(f.bare)
	if res, err := Image(ctx, rel); err != nil || res.Outcome != Committed {
		t.Errorf("Image(relative path) = %+v, %v; want a commit", res, err)
	}
}

// TestGitPRMode guards plain git in pull-request mode: it cannot open the
// pull request, so it pushes the bump's branch and says so, leaving the
// branch the manifest is on as it was.
func TestGitPRMode(t *testing.T) {
	f := newGitFixture(t, 1)
	before := f.file(t)
	opts := f.options(0)
	opts.Mode = ModePR
	res, err := Image(context.Background(), opts)
	if err != nil || res.Outcome != Proposed || res.Branch != "bump/platform-demo-"+f.commits[0][:7] {
		t.Fatalf("Image(pr) = %+v, %v; want the bump's branch pushed", res, err)
	}
	if !strings.Contains(res.String(), "open a pull request from it on the host") {
		t.Errorf("result %q does not say the pull request is the host's to open", res)
	}
	if got := f.file(t); string(got) != string(before) {
		t.Errorf("main changed in pull-request mode")
	}
	branch := []byte(runGit(t, f.bare, "show", res.Branch+":"+DefaultPath) + "\n")
	if cur := readBack(t, branch); cur.SourceCommit != f.commits[0] {
		t.Errorf("branch %s deploys %s, want %s", res.Branch, cur.SourceCommit, f.commits[0])
	}
}

func TestGitDryRun(t *testing.T) {
	f := newGitFixture(t, 1)
	opts := f.options(0)
	opts.DryRun = true
	res, err := Image(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != DryRun || !strings.Contains(res.Diff, "+          image: "+opts.Image) {
		t.Errorf("Image(dry run) = %+v, want a diff setting the image", res)
	}
	if n := f.commitCount(t); n != 1 {
		t.Errorf("dry run made %d commits, want 0", n-1)
	}
}

func TestGitGuard(t *testing.T) {
	ctx := context.Background()
	f := newGitFixture(t, 3)
	if _, err := Image(ctx, f.options(2)); err != nil {
		t.Fatal(err)
	}
	res, err := Image(ctx, f.options(1))
	if err != nil || res.Outcome != NewerDeployed {
		t.Errorf("Image(older) = %+v, %v; want newer-deployed", res, err)
	}
	rollback := f.options(1)
	rollback.Force = true
	if res, err := Image(ctx, rollback); err != nil || res.Outcome != Committed {
		t.Errorf("Image(older, Force) = %+v, %v; want a commit", res, err)
	}
	unknown := f.options(1)
	unknown.SourceCommit = strings.Repeat("f", 40)
	if _, err := Image(ctx, unknown); err == nil || !strings.Contains(err.Error(), "history") {
		t.Errorf("Image(unknown commit) error = %v, want one about incomplete history", err)
	}
}

func TestGitErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"branch not found", func(o *Options) { o.Branch = "prod" }, `branch "prod" not found`},
		{"path not found", func(o *Options) { o.Path = "nope.yaml" }, "GITOPS_PATH"},
		{"repository not found", func(o *Options) { o.Repo = filepath.Join(t.TempDir(), "missing.git") }, "GITOPS_REPO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGitFixture(t, 1)
			opts := f.options(0)
			tt.modify(&opts)
			_, err := Image(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Image() error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestGitHTTPSToken serves the gitops repository over git's smart HTTP
// protocol behind basic auth, to check that the token reaches the server as
// a header (not through a credential helper) and never shows in errors.
func TestGitHTTPSToken(t *testing.T) {
	const token = "ghp_gitTokenGitTokenGitTokenGitToken0"
	f := newGitFixture(t, 1)
	runGit(t, f.bare, "config", "http.receivepack", "true")
	backend := &cgi.Handler{
		Path: filepath.Join(runGit(t, "", "--exec-path"), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(f.bare), "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull},
	}
	var mu sync.Mutex
	authorized := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitops"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		authorized++
		mu.Unlock()
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()

	opts := f.options(0)
	opts.Repo = srv.URL + "/" + filepath.Base(f.bare)
	opts.Token = token
	res, err := Image(context.Background(), opts)
	if err != nil || res.Outcome != Committed {
		t.Fatalf("Image(over HTTP) = %+v, %v; want a commit", res, err)
	}
	if got := runGit(t, f.bare, "rev-parse", "main"); got != res.Commit {
		t.Errorf("remote main = %s, want the pushed commit %s", got, res.Commit)
	}
	if authorized == 0 {
		t.Error("the server saw no authorized request")
	}

	bad := f.options(0)
	bad.Repo, bad.Token = opts.Repo, "ghp_wrongWrongWrongWrongWrongWrong00"
	_, err = Image(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("Image(bad token) error = %v, want an authentication failure", err)
	}
	if strings.Contains(err.Error(), bad.Token) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("x-access-token:"+bad.Token))) {
		t.Errorf("Image(bad token) error shows the token: %v", err)
	}
}

// TestGitPlainHTTPToken guards the token: git sends it as a Basic header,
// readable by anyone between here and a plain-http remote on another machine.
// newGit decides before any traffic, so no remote below is ever contacted.
func TestGitPlainHTTPToken(t *testing.T) {
	const token = "ghp_plainPlainPlainPlainPlainPlain00"
	tests := []struct {
		name   string
		remote string
		token  string
		refuse bool
	}{
		{name: "private address", remote: "http://10.0.0.200/gitops.git", token: token, refuse: true},
		{name: "name with password", remote: "http://bot:hunter2@gitops.example.com/gitops.git", token: token, refuse: true},
		{name: "loopback", remote: "http://127.0.0.1:8080/gitops.git", token: token},
		{name: "localhost", remote: "http://localhost:8080/gitops.git", token: token},
		{name: "https", remote: "https://gitops.example.com/gitops.git", token: token},
		{name: "no token", remote: "http://10.0.0.200/gitops.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := newGit(Options{Repo: tt.remote, Token: tt.token})
			if g != nil {
				defer g.close()
			}
			if !tt.refuse {
				if err != nil {
					t.Errorf("newGit(%q) error = %v, want none", tt.remote, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("newGit(%q) error = nil, want a refusal of plain http", tt.remote)
			}
			msg := err.Error()
			if !strings.Contains(msg, "https://") || !strings.Contains(msg, forge.Display(tt.remote)) {
				t.Errorf("newGit(%q) error = %q, want it to name the remote and ask for https://", tt.remote, msg)
			}
			if strings.Contains(msg, token) || strings.Contains(msg, "hunter2") {
				t.Errorf("newGit(%q) error = %q, shows a credential", tt.remote, msg)
			}
		})
	}
}

// TestGitRace is TestGitHubRace with plain git: 20 bumps push to one bare
// repository at once.
func TestGitRace(t *testing.T) {
	f := newGitFixture(t, 20)
	start := time.Now()
	outcomes := raceBumps(t, len(f.commits), f.options)
	t.Logf("20 concurrent git bumps converged in %s: %v", time.Since(start).Round(time.Millisecond), outcomes)

	if cur := readBack(t, f.file(t)); cur.SourceCommit != f.commits[19] {
		t.Errorf("after the race the manifest deploys %s, want the newest %s", cur.SourceCommit, f.commits[19])
	}
	var history [][]byte
	for _, sha := range strings.Fields(runGit(t, f.bare, "rev-list", "--reverse", "--first-parent", "main")) {
		history = append(history, []byte(runGit(t, f.bare, "show", sha+":"+DefaultPath)+"\n"))
	}
	checkMonotonic(t, history, f.commits)
}

// TestHistory guards what rollbacks and status read: each commit that
// changed the manifest, newest first, with what it deployed, on both
// backends.
func TestHistory(t *testing.T) {
	ctx := context.Background()
	t.Run("git", func(t *testing.T) {
		f := newGitFixture(t, 3)
		for i := range f.commits {
			if _, err := Image(ctx, f.options(i)); err != nil {
				t.Fatal(err)
			}
		}
		revs, err := History(ctx, Options{Repo: f.bare}, 10)
		if err != nil {
			t.Fatal(err)
		}
		checkHistory(t, revs, f.commits)
	})
	for _, fl := range flavors {
		t.Run(fl.name, func(t *testing.T) {
			f := newGHFixture(t, 3, fl.opts...)
			for i := range f.commits {
				if _, err := Image(ctx, f.options(i)); err != nil {
					t.Fatal(err)
				}
			}
			// A commit that leaves the manifest alone is not a revision of it.
			f.srv.CommitFiles(gitopsRepo, "main", "docs", map[string]string{"README.md": "changed\n"})
			revs, err := History(ctx, Options{Repo: gitopsRepo, APIURL: f.srv.URL, Token: goodToken}, 10)
			if err != nil {
				t.Fatal(err)
			}
			checkHistory(t, revs, f.commits)
		})
	}
}

// checkHistory wants the bumps of commits, newest first, then the seed.
func checkHistory(t *testing.T, revs []Revision, commits []string) {
	t.Helper()
	if len(revs) != len(commits)+1 {
		t.Fatalf("History() = %d revisions, want %d (the bumps and the seed): %+v", len(revs), len(commits)+1, revs)
	}
	for i, c := range commits {
		r := revs[len(commits)-1-i]
		if r.SourceCommit != c || r.Image != imageFor(c) || len(r.Commit) != 40 || r.Time.IsZero() || !strings.HasPrefix(r.Subject, "ci(platform-demo): deploy "+c[:7]) {
			t.Errorf("revision %d = %+v, want the bump of %s", len(commits)-1-i, r, c)
		}
	}
	if seed := revs[len(revs)-1]; seed.SourceCommit != "" || seed.Image == "" {
		t.Errorf("oldest revision = %+v, want the seed's image and no source commit", seed)
	}
}

// TestGitProtectedBranch guards a remote that refuses direct pushes to the
// branch, as GitHub, GitLab and Gitea do for a protected one: the error
// names the protection and BUMP_MODE=pr, and pull-request mode gets through.
func TestGitProtectedBranch(t *testing.T) {
	f := newGitFixture(t, 1)
	hook := filepath.Join(f.bare, "hooks", "pre-receive")
	script := "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/main ]; then echo 'GH006: Protected branch update failed for refs/heads/main.' >&2; exit 1; fi\ndone\n"
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Image(context.Background(), f.options(0))
	if err == nil || !strings.Contains(err.Error(), "branch main is protected") || !strings.Contains(err.Error(), "BUMP_MODE=pr") {
		t.Fatalf("Image() to a protected branch = %v, want the protection and BUMP_MODE=pr named", err)
	}
	opts := f.options(0)
	opts.Mode = ModePR
	if res, err := Image(context.Background(), opts); err != nil || res.Outcome != Proposed {
		t.Errorf("Image(pr) = %+v, %v; want the branch pushed", res, err)
	}
}

// TestGitExpect guards the writes that are about one image, a soak's
// verdict and the rollback of a version that failed it: they land only
// while the manifest deploys that image, with their annotations in the
// same commit, and stand down when another write replaced it.
func TestGitExpect(t *testing.T) {
	ctx := context.Background()
	f := newGitFixture(t, 3)
	for _, i := range []int{0, 1} {
		if _, err := Image(ctx, f.options(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The record of a verdict: the image it is about, unchanged, and the
	// annotations.
	verdict := f.options(1)
	verdict.Expect, verdict.Action, verdict.Reason = imageFor(f.commits[1]), "verdict on", "soak passed: 3s: 60 probes, 0 failed"
	verdict.Annotations = map[string]string{"platform-demo.dev/passed-image": imageFor(f.commits[1])}
	res, err := Image(ctx, verdict)
	if err != nil || res.Outcome != Committed {
		t.Fatalf("Image(verdict) = %+v, %v; want a commit", res, err)
	}
	if got := readBack(t, f.file(t)); got.Image != imageFor(f.commits[1]) || got.Annotations["platform-demo.dev/passed-image"] != imageFor(f.commits[1]) {
		t.Errorf("manifest after the verdict = %+v, want the same image and the verdict", got)
	}
	if got, want := runGit(t, f.bare, "log", "-1", "--format=%s", "main"), "ci(platform-demo): verdict on "+f.commits[1][:7]; got != want {
		t.Errorf("verdict commit subject = %q, want %q", got, want)
	}
	if body := runGit(t, f.bare, "log", "-1", "--format=%B", "main"); !strings.Contains(body, "Reason: soak passed: 3s: 60 probes, 0 failed") {
		t.Errorf("verdict commit message:\n%s\nwant the figures in its Reason trailer", body)
	}

	// A rollback of commit 2's image after commit 2 was replaced by
	// another write stands down.
	if _, err := Image(ctx, f.options(2)); err != nil {
		t.Fatal(err)
	}
	back := f.options(0)
	back.Force, back.Expect, back.Action = true, imageFor(f.commits[1]), "roll back to"
	commits := f.commitCount(t)
	res, err = Image(ctx, back)
	if err != nil || res.Outcome != Moved || res.Previous != imageFor(f.commits[2]) {
		t.Fatalf("Image(rollback of a replaced image) = %+v, %v; want moved, naming what is deployed", res, err)
	}
	if n := f.commitCount(t); n != commits {
		t.Errorf("a moved bump made %d commits, want 0", n-commits)
	}
	if !strings.Contains(res.String(), "deploys "+imageFor(f.commits[2])+" now") {
		t.Errorf("Result.String() = %q, want it to name what the manifest deploys", res)
	}
}

// TestGitExplainReadsTheCode guards the reading of git's failures by their
// content: a path holding "401" is not an authentication failure.
func TestGitExplainReadsTheCode(t *testing.T) {
	g := &gitBackend{display: "/tmp/TestGitErrors1314782401/001/missing.git", branch: "main"}
	tests := []struct{ out, want string }{
		{"fatal: repository '/tmp/TestGitErrors1314782401/001/missing.git' does not exist", "check GITOPS_REPO"},
		{"fatal: unable to access 'https://h/o/r.git/': The requested URL returned error: 403", "set GITOPS_TOKEN"},
		{"fatal: unable to access 'https://h/o/r.git/': The requested URL returned error: 401", "set GITOPS_TOKEN"},
	}
	for _, tt := range tests {
		err := g.explain("clone", &git.Error{Output: tt.out, Err: errors.New("exit status 128")})
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("explain(%q) = %v, want it to say %q", tt.out, err, tt.want)
		}
	}
}
