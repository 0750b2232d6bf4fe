package githubtest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
)

const token = "ghp_test"

// client is the real go-github client pointed at srv, as production code
// builds it.
func client(t *testing.T, srv *Server, tok string) *github.Client {
	t.Helper()
	c := github.NewClient(srv.Client()).WithAuthToken(tok)
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = base
	return c
}

func TestContents(t *testing.T) {
	ctx := context.Background()
	srv := New()
	t.Cleanup(srv.Close)
	srv.AddToken(token, Token{Scopes: []string{"repo"}})
	first := srv.CreateRepo("o/r", "main", map[string]string{"dir/a.yaml": "a: 1\n"})
	c := client(t, srv, token)

	file, _, _, err := c.Repositories.GetContents(ctx, "o", "r", "dir/a.yaml", &github.RepositoryContentGetOptions{Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	content, err := file.GetContent()
	if err != nil || content != "a: 1\n" {
		t.Fatalf("GetContents = %q, %v; want %q", content, err, "a: 1\n")
	}
	// The blob sha must be git's, or clients that compute it locally break.
	out, err := exec.Command("sh", "-c", "printf 'a: 1\\n' | git hash-object --stdin").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); file.GetSHA() != want {
		t.Errorf("blob sha = %s, want git's %s", file.GetSHA(), want)
	}

	resp, _, err := c.Repositories.UpdateFile(ctx, "o", "r", "dir/a.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("edit"), Content: []byte("a: 2\n"), SHA: file.SHA, Branch: github.String("main"),
	})
	if err != nil {
		t.Fatal(err)
	}
	log := srv.Log("o/r", "main")
	if len(log) != 2 || log[0].SHA != resp.Commit.GetSHA() || log[0].Parents[0] != first || log[0].Files["dir/a.yaml"] != "a: 2\n" {
		t.Errorf("log after PUT = %+v, want a second commit holding the new content", log)
	}

	// Reading at the old commit still gives the old content.
	old, _, _, err := c.Repositories.GetContents(ctx, "o", "r", "dir/a.yaml", &github.RepositoryContentGetOptions{Ref: first})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := old.GetContent(); got != "a: 1\n" {
		t.Errorf("content at %s = %q, want the original", first, got)
	}

	_, dir, _, err := c.Repositories.GetContents(ctx, "o", "r", "dir", nil)
	if err != nil || len(dir) != 1 || dir[0].GetPath() != "dir/a.yaml" {
		t.Errorf("directory listing = %v, %v; want dir/a.yaml", dir, err)
	}

	if got := srv.Count("GET", "/repos/o/r/contents/dir/a.yaml"); got != 2 {
		t.Errorf("Count(GET contents) = %d, want 2", got)
	}
	if got := srv.Count("PUT", "/repos/o/r/contents/dir/a.yaml"); got != 1 {
		t.Errorf("Count(PUT contents) = %d, want 1", got)
	}
}

func TestStaleSHA(t *testing.T) {
	tests := []struct {
		name       string
		opts       []Option
		wantStatus int
		wantMsg    string
	}{
		{"GitHub", nil, http.StatusConflict, "does not match"},
		{"Gitea", []Option{WithStaleSHAStatus(http.StatusUnprocessableEntity)}, http.StatusUnprocessableEntity, "sha does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := New(tt.opts...)
			t.Cleanup(srv.Close)
			srv.AddToken(token, Token{})
			srv.CreateRepo("o/r", "main", map[string]string{"a": "1"})
			_, _, err := client(t, srv, token).Repositories.UpdateFile(context.Background(), "o", "r", "a", &github.RepositoryContentFileOptions{
				Message: github.String("edit"), Content: []byte("2"), SHA: github.String(BlobSHA([]byte("0"))),
			})
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tt.wantStatus || !strings.Contains(er.Message, tt.wantMsg) {
				t.Errorf("UpdateFile(stale sha) error = %v, want %d %q", err, tt.wantStatus, tt.wantMsg)
			}
			if n := len(srv.Log("o/r", "main")); n != 1 {
				t.Errorf("a rejected PUT made a commit: %d commits", n)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	srv := New()
	t.Cleanup(srv.Close)
	srv.AddToken("classic", Token{Login: "ci", Scopes: []string{"repo", "read:packages"}})
	srv.AddToken("fine", Token{Login: "bot", ReadOnly: true, Repos: []string{"o/r"}})
	srv.CreateRepo("o/r", "main", map[string]string{"a": "1"})
	srv.CreateRepo("o/private", "main", nil)

	user, resp, err := client(t, srv, "classic").Users.Get(ctx, "")
	if err != nil || user.GetLogin() != "ci" {
		t.Fatalf("Users.Get = %v, %v; want ci", user, err)
	}
	if got := resp.Header.Get("X-OAuth-Scopes"); got != "repo, read:packages" {
		t.Errorf("X-OAuth-Scopes = %q, want the classic token's scopes", got)
	}
	repo, resp, err := client(t, srv, "fine").Repositories.Get(ctx, "o", "r")
	if err != nil || repo.GetPermissions()["push"] || !repo.GetPermissions()["pull"] {
		t.Errorf("Repositories.Get(read-only) = %v, %v; want pull without push", repo.GetPermissions(), err)
	}
	if _, ok := resp.Header["X-Oauth-Scopes"]; ok {
		t.Error("a fine-grained token got an X-OAuth-Scopes header")
	}

	tests := []struct {
		name   string
		tok    string
		call   func(*github.Client) error
		status int
		msg    string
	}{
		{"bad token", "nope", func(c *github.Client) error { _, _, err := c.Users.Get(ctx, ""); return err }, 401, "Bad credentials"},
		{"no push", "fine", func(c *github.Client) error {
			_, _, err := c.Repositories.UpdateFile(ctx, "o", "r", "a", &github.RepositoryContentFileOptions{Message: github.String("m"), Content: []byte("2"), SHA: github.String(BlobSHA([]byte("1")))})
			return err
		}, 403, "not accessible"},
		{"hidden repo", "fine", func(c *github.Client) error { _, _, err := c.Repositories.Get(ctx, "o", "private"); return err }, 404, "Not Found"},
		{"missing path", "classic", func(c *github.Client) error {
			_, _, _, err := c.Repositories.GetContents(ctx, "o", "r", "b", nil)
			return err
		}, 404, "Not Found"},
		{"missing branch", "classic", func(c *github.Client) error {
			_, _, _, err := c.Repositories.GetContents(ctx, "o", "r", "a", &github.RepositoryContentGetOptions{Ref: "prod"})
			return err
		}, 404, "No commit found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(client(t, srv, tt.tok))
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tt.status || !strings.Contains(er.Message, tt.msg) {
				t.Errorf("error = %v, want %d %q", err, tt.status, tt.msg)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	srv := New()
	t.Cleanup(srv.Close)
	srv.AddToken(token, Token{})
	srv.CreateRepo("o/src", "main", nil)
	// a <- b <- c, and a <- d (a side branch)
	srv.AddCommit("o/src", "aaaaaaa")
	srv.AddCommit("o/src", "bbbbbbb", "aaaaaaa")
	srv.AddCommit("o/src", "ccccccc", "bbbbbbb")
	srv.AddCommit("o/src", "ddddddd", "aaaaaaa")
	tests := []struct {
		base, head, want string
		ahead, behind    int
	}{
		{"aaaaaaa", "ccccccc", "ahead", 2, 0},
		{"ccccccc", "aaaaaaa", "behind", 0, 2},
		{"bbbbbbb", "bbbbbbb", "identical", 0, 0},
		{"ccccccc", "ddddddd", "diverged", 1, 2},
	}
	c := client(t, srv, token)
	for _, tt := range tests {
		cmp, _, err := c.Repositories.CompareCommits(context.Background(), "o", "src", tt.base, tt.head, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cmp.GetStatus() != tt.want || cmp.GetAheadBy() != tt.ahead || cmp.GetBehindBy() != tt.behind {
			t.Errorf("compare %s...%s = %s +%d -%d, want %s +%d -%d", tt.base, tt.head, cmp.GetStatus(), cmp.GetAheadBy(), cmp.GetBehindBy(), tt.want, tt.ahead, tt.behind)
		}
	}
	if _, _, err := c.Repositories.CompareCommits(context.Background(), "o", "src", "aaaaaaa", "eeeeeee", nil); err == nil {
		t.Error("compare with an unknown commit succeeded, want 404")
	}
}

// TestRateLimit checks that go-github recognises each limit as the typed
// error callers branch on.
func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	srv := New()
	t.Cleanup(srv.Close)
	srv.AddToken(token, Token{})

	srv.RateLimit(Limit{Kind: PrimaryLimit, After: time.Second})
	_, resp, err := client(t, srv, token).Users.Get(ctx, "")
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || rl.Rate.Remaining != 0 || !rl.Rate.Reset.After(time.Now()) {
		t.Errorf("primary limit error = %v, want *github.RateLimitError with a future reset", err)
	}
	if resp == nil || resp.Rate.Limit != 5000 {
		t.Errorf("rate headers = %+v, want limit 5000", resp)
	}

	srv.RateLimit(Limit{Kind: SecondaryLimit, After: 2 * time.Second})
	_, _, err = client(t, srv, token).Users.Get(ctx, "")
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.RetryAfter == nil || *abuse.RetryAfter != 2*time.Second {
		t.Errorf("secondary limit error = %v, want *github.AbuseRateLimitError with RetryAfter 2s", err)
	}

	srv.RateLimit(Limit{Kind: TooManyRequests, After: time.Second})
	_, _, err = client(t, srv, token).Users.Get(ctx, "")
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusTooManyRequests || er.Response.Header.Get("Retry-After") != "1" {
		t.Errorf("429 error = %v, want status 429 with Retry-After: 1", err)
	}

	user, resp, err := client(t, srv, token).Users.Get(ctx, "")
	if err != nil || user.GetLogin() == "" || resp.Rate.Remaining == 0 {
		t.Errorf("request after the limits = %v, %v; want normal service", user, err)
	}
}

func TestBasePath(t *testing.T) {
	srv := New(WithBasePath("api/v1"))
	t.Cleanup(srv.Close)
	srv.AddToken(token, Token{})
	if !strings.HasSuffix(srv.URL, "/api/v1/") {
		t.Fatalf("URL = %s, want it to end in /api/v1/", srv.URL)
	}
	if _, _, err := client(t, srv, token).Users.Get(context.Background(), ""); err != nil {
		t.Errorf("Users.Get under /api/v1/: %v", err)
	}
	if got := srv.Count("GET", "/user"); got != 1 {
		t.Errorf("Count(GET /user) = %d, want 1", got)
	}
}
