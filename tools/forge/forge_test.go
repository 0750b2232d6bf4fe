package forge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
)

const (
	classic     = "ghp_SENTINEL1234567890abcdefghijklmnopqr"
	fineGrained = "github_pat_11SENTINEL0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXY"
	gitops      = "acme/gitops"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		token string
		want  TokenKind
	}{
		{classic, ClassicPAT},
		{fineGrained, FineGrainedPAT},
		{"ghs_SENTINEL1234567890abcdefghijklmnopqr", InstallationToken},
		{"ghu_SENTINEL1234567890abcdefghijklmnopqr", AppUserToken},
		{"gho_SENTINEL1234567890abcdefghijklmnopqr", OAuthToken},
		{"0123456789abcdef0123456789abcdef01234567", HexToken},
		{"not-a-token-of-any-known-shape-at-all", UnknownToken},
	}
	for _, tt := range tests {
		if got := KindOf(tt.token); got != tt.want {
			t.Errorf("KindOf(%.8s…) = %v, want %v", tt.token, got, tt.want)
		}
	}
	if s := HexToken.String(); strings.Contains(s, "classic personal access token") || !strings.Contains(s, "Gitea") {
		t.Errorf("HexToken = %q: Gitea's and Forgejo's tokens look so, and are no classic personal access token", s)
	}
	if !InstallationToken.NoUser() || ClassicPAT.NoUser() {
		t.Error("NoUser: only installation tokens have no user behind them")
	}
}

func TestParseAPIURL(t *testing.T) {
	tests := []struct {
		in        string
		withToken bool
		want      string // "" for an error
		errWants  string
	}{
		{"", false, DefaultAPIURL, ""},
		{"https://ghe.example/api/v3", true, "https://ghe.example/api/v3/", ""},
		{"http://127.0.0.1:3000/api/v1/", true, "http://127.0.0.1:3000/api/v1/", ""},
		{"http://10.0.0.200/api/v3/", true, "", "plain http"},
		{"http://10.0.0.200/api/v3/", false, "http://10.0.0.200/api/v3/", ""},
		{"ghe.example", false, "", "not an http(s) URL"},
		{"https://x:" + classic + "@ghe.example/", true, "https://x:" + classic + "@ghe.example/", ""},
		{"ftp://x:" + classic + "@ghe.example/", true, "", "not an http(s) URL"},
	}
	for _, tt := range tests {
		u, err := ParseAPIURL(tt.in, tt.withToken)
		switch {
		case tt.want == "" && (err == nil || !strings.Contains(err.Error(), tt.errWants)):
			t.Errorf("ParseAPIURL(%q) error = %v, want one containing %q", tt.in, err, tt.errWants)
		case tt.want != "" && (err != nil || u.String() != tt.want):
			t.Errorf("ParseAPIURL(%q) = %v, %v; want %q", tt.in, u, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), classic) {
			t.Errorf("ParseAPIURL error shows the token: %v", err)
		}
	}
}

// TestClientSendsTokenToAPIHostOnly guards GITOPS_TOKEN: it goes to the API
// host, never to a host a redirect names.
func TestClientSendsTokenToAPIHostOnly(t *testing.T) {
	var other []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other = append(other, r.Header.Get("Authorization"))
		w.Write([]byte(`{"login":"x"}`))
	}))
	defer elsewhere.Close()
	var api []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api = append(api, r.Header.Get("Authorization"))
		http.Redirect(w, r, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, classic, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Users.Get(context.Background(), "")
	if len(api) != 1 || api[0] != "Bearer "+classic {
		t.Errorf("API host got Authorization %q, want the bearer token once", api)
	}
	if len(other) != 1 || other[0] != "" {
		t.Errorf("redirect target got Authorization %q, want one request without it", other)
	}
}

// TestExplain pins what each answer means, for the bump and doctor alike.
func TestExplain(t *testing.T) {
	gh := githubtest.New()
	defer gh.Close()
	gh.CreateRepo(gitops, "main", map[string]string{"a.yaml": "a: 1\n"})
	gh.AddToken(classic, githubtest.Token{Scopes: []string{"read:packages"}, ReadOnly: true})
	gh.AddToken(fineGrained, githubtest.Token{ReadOnly: true})
	ctx := context.Background()
	call := func(token string) error {
		c, err := NewClient(gh.URL, token, gh.Client())
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Repositories.UpdateFile(ctx, "acme", "gitops", "a.yaml", nil)
		return err
	}
	who := func(token string) Context {
		return Context{Token: token, Repo: gitops, API: gh.URL, SourceRepo: "acme/app"}
	}

	tests := []struct {
		name   string
		err    func() error
		c      Context
		cause  string
		fix    []string
		refuse bool
	}{
		{"unknown classic token", func() error { return call("ghp_unknown1234567890abcdefghijklmnopqrs") }, who("ghp_unknown1234567890abcdefghijklmnopqrs"),
			"the host rejected the token (401 Bad credentials)", []string{"classic personal access token", "expired, revoked or mistyped", "gh secret set GITOPS_TOKEN -R acme/app"}, false},
		{"unknown fine-grained token", func() error { return call(fineGrained + "x") }, who(fineGrained + "x"),
			"401", []string{"organization's policy", "GitHub App"}, false},
		{"app token refused", func() error { return call("ghs_unknown1234567890abcdefghijklmnopqrs") }, Context{Token: "ghs_x", App: true, Repo: gitops},
			"401", []string{"GITOPS_APP_ID", "mage doctor"}, false},
		{"classic without repo scope", func() error { return call(classic) }, who(classic),
			"access refused (403", []string{"scopes \"read:packages\"", "repo scope"}, true},
		{"fine-grained without write", func() error { return call(fineGrained) }, who(fineGrained),
			"access refused (403 Resource not accessible by personal access token)", []string{"Contents: Read and write"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Explain(tt.err(), tt.c)
			if !strings.Contains(p.Cause, tt.cause) || p.Refused != tt.refuse {
				t.Errorf("Explain() = cause %q refused %v, want cause containing %q refused %v", p.Cause, p.Refused, tt.cause, tt.refuse)
			}
			for _, w := range tt.fix {
				if !strings.Contains(p.Fix, w) {
					t.Errorf("Explain().Fix = %q, want it to contain %q", p.Fix, w)
				}
			}
		})
	}

	t.Run("rate limit", func(t *testing.T) {
		gh.AddToken("ghp_limited1234567890abcdefghijklmnopqrs", githubtest.Token{Scopes: []string{"repo"}})
		gh.RateLimit(githubtest.Limit{Kind: githubtest.PrimaryLimit, After: 30 * time.Second})
		p := Explain(call("ghp_limited1234567890abcdefghijklmnopqrs"), who(""))
		if p.RetryAfter < time.Second || !strings.Contains(p.Cause, "rate limit exhausted") {
			t.Errorf("Explain(rate limited) = %+v, want a wait and the reset time", p)
		}
	})
	// Ctrl-C is not a host that does not answer: the advice to check
	// GITHUB_API_URL would send the user looking for a fault there is not.
	t.Run("interrupted", func(t *testing.T) {
		c, err := NewClient(gh.URL, classic, gh.Client())
		if err != nil {
			t.Fatal(err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, _, err = c.Repositories.Get(cancelled, "acme", "gitops")
		p := Explain(err, who(classic))
		if !p.Interrupted || p.Cause != "interrupted before the host answered" || p.Fix != "" || !errors.Is(p, context.Canceled) {
			t.Errorf("Explain(cancelled) = %+v, want interrupted, no fix, and context.Canceled inside", p)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		c, _ := NewClient(closed.URL, classic, nil)
		_, _, err := c.Users.Get(ctx, "")
		p := Explain(err, Context{Token: classic, API: closed.URL})
		if p.Status != 0 || !strings.Contains(p.Cause, "connection refused") || !strings.Contains(p.Fix, "GITHUB_API_URL") {
			t.Errorf("Explain(unreachable) = %+v", p)
		}
	})
}

func TestSaysProtected(t *testing.T) {
	for msg, want := range map[string]bool{
		"Could not update file: Changes must be made through a pull request.":              true,
		"Repository rule violations found\n\nChanges must be made through a pull request.": true,
		"user cannot commit to repo [user: bot]":                                           true,
		"user should have a permission to write to the target branch":                      true,
		"Resource not accessible by personal access token":                                 false,
		"Must have push access to repository":                                              false,
	} {
		if got := (Problem{Message: msg}).SaysProtected(); got != want {
			t.Errorf("SaysProtected(%q) = %v, want %v", msg, got, want)
		}
	}
}

// TestExplainWrites pins what the answers hosts give a Contents API write
// mean, by their own message texts: a lost race is retried on every host,
// whatever its status, and a protected branch is never taken for one.
func TestExplainWrites(t *testing.T) {
	const at, expected = "5c0f1d3e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
	answer := func(status int, msg string) error {
		return &github.ErrorResponse{Response: &http.Response{StatusCode: status, Header: http.Header{}}, Message: msg}
	}
	tests := []struct {
		name     string
		status   int
		message  string
		conflict bool
		refused  bool
		cause    string
	}{
		// Gitea 1.26, seen on this machine: concurrent PUTs to one branch.
		{"Gitea lost ref lock", 403, "cannot lock ref 'refs/heads/main': is at " + at + " but expected " + expected, true, false, "the branch moved"},
		// Gitea 1.26, seen: a PUT with a blob sha the file no longer has.
		{"Gitea stale sha", 422, "sha does not match [given: " + expected + ", expected: " + at + "]", true, false, "the file changed"},
		// Gitea 1.26, seen: a PUT to a branch protected against pushes.
		{"Gitea protected branch", 403, "user cannot commit to repo [user: platform-bot]", false, true, "access refused"},
		// GitHub (PyGithub#1787, octokit.net#2365): concurrent PUTs.
		{"GitHub lost ref race", 409, "is at " + at + " but expected " + expected, true, false, "the branch moved"},
		// GitHub Enterprise, older (jcabi-github#665).
		{"GitHub Enterprise ref race", 409, "refs/heads/master expected to be at " + expected, true, false, "the branch moved"},
		// GitHub's documented stale-sha answer.
		{"GitHub stale sha", 409, "manifests/a.yaml does not match " + expected, true, false, "the file changed"},
		{"GitHub protected branch", 409, "Could not update file: Changes must be made through a pull request.", false, true, "the write was refused"},
		{"GitHub fine-grained token without write", 403, "Resource not accessible by personal access token", false, true, "access refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Explain(answer(tt.status, tt.message), Context{Token: classic, Repo: gitops})
			if p.Conflict != tt.conflict || p.Refused != tt.refused || !strings.HasPrefix(p.Cause, tt.cause) {
				t.Errorf("Explain(%d %q) = conflict %v refused %v cause %q; want conflict %v refused %v cause %q…",
					tt.status, tt.message, p.Conflict, p.Refused, p.Cause, tt.conflict, tt.refused, tt.cause)
			}
			if p.Conflict && (p.Fix != "" || p.SaysProtected()) {
				t.Errorf("Explain(%d %q) = fix %q, protected %v; a lost race needs no fix, only a retry", tt.status, tt.message, p.Fix, p.SaysProtected())
			}
			if LostRace(tt.message) != (tt.conflict && !strings.Contains(tt.message, "does not match")) {
				t.Errorf("LostRace(%q) = %v", tt.message, LostRace(tt.message))
			}
		})
	}
}
