package doctor_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/doctor"
	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
)

const (
	gitopsRepo     = "andrelair-platform/minicloud-gitops"
	deploymentPath = "manifests/platform-demo/00-deployment.yaml"
	fineGrained    = "github_pat_11SENTINEL0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXY"
)

// gitopsServer serves the gitops repository with the test Deployment.
func gitopsServer(t *testing.T) *githubtest.Server {
	t.Helper()
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.CreateRepo(gitopsRepo, "main", map[string]string{deploymentPath: readFile(t, "testdata/deployment.yaml")})
	return gh
}

func githubEnv(gh *githubtest.Server, token string) map[string]string {
	return map[string]string{
		"GITOPS_REPO": gitopsRepo, "GITOPS_TOKEN": token, "GITHUB_API_URL": gh.URL,
		"KO_DOCKER_REPO": "ghcr.io/andrelair-platform",
	}
}

func TestGitHub(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		setup   func(gh *githubtest.Server, token string)
		env     map[string]string
		api     doctor.Status
		found   []string
		fix     []string
		target  doctor.Status
		tfound  []string
		tfix    []string
		failed  bool
		timeout time.Duration
	}{
		{
			name: "classic token with repo scope", token: sentinelToken,
			setup: func(gh *githubtest.Server, tok string) {
				gh.AddToken(tok, githubtest.Token{Login: "platform-bot", Scopes: []string{"repo", "workflow"}})
			},
			api:    doctor.OK,
			found:  []string{"token accepted", "as platform-bot", "scopes: repo, workflow", "push allowed on " + gitopsRepo},
			target: doctor.OK,
			tfound: []string{gitopsRepo + "@main:" + deploymentPath, `Deployment/platform-demo "platform-demo" runs ghcr.io/andrelair-platform/platform-demo:77b10fa`, "source commit 77b10fa"},
		},
		{
			// Fine-grained tokens send no X-OAuth-Scopes: no scope is missing.
			name: "fine-grained token", token: fineGrained,
			setup:  func(gh *githubtest.Server, tok string) { gh.AddToken(tok, githubtest.Token{Login: "platform-bot"}) },
			api:    doctor.OK,
			found:  []string{"as platform-bot", "push allowed"},
			target: doctor.OK,
		},
		{
			name: "classic token rejected", token: sentinelToken,
			api:    doctor.Fail,
			found:  []string{"GET /user: the host rejected the token (401 Bad credentials)"},
			fix:    []string{"expired, revoked or mistyped", "classic PAT with the repo scope", printfFix},
			target: doctor.Warn, tfound: []string{"not checked"},
			failed: true,
		},
		{
			// The seed's first problem: an organisation policy answers a
			// fine-grained PAT with a bare 401.
			name: "fine-grained token rejected", token: fineGrained,
			api:    doctor.Fail,
			found:  []string{"401 Bad credentials"},
			fix:    []string{"fine-grained personal access token", "organization's policy", "no pending approval shown anywhere", "a classic PAT with the repo scope", "docs/runbook.md"},
			target: doctor.Warn,
			failed: true,
		},
		{
			// Nothing that cannot be a token is sent: the GITOPS_TOKEN row
			// says why, and the API is left alone.
			name: "dash token", token: "-",
			api:    doctor.Warn,
			found:  []string{"not checked: GITOPS_TOKEN cannot be a real token"},
			target: doctor.Warn,
			failed: true,
		},
		{
			// GitHub would see the token without its newline only if the
			// value were fixed; the API row shows that this is the only fault.
			name: "trailing newline", token: sentinelToken + "\n",
			setup: func(gh *githubtest.Server, tok string) {
				gh.AddToken(sentinelToken, githubtest.Token{Scopes: []string{"repo"}})
			},
			api:    doctor.OK,
			found:  []string{"once its whitespace is removed"},
			target: doctor.OK,
			failed: true, // the GITOPS_TOKEN row
		},
		{
			name: "scopes without repo", token: sentinelToken,
			setup: func(gh *githubtest.Server, tok string) {
				gh.AddToken(tok, githubtest.Token{Scopes: []string{"read:packages", "workflow"}})
			},
			api:    doctor.Fail,
			found:  []string{"its scopes (read:packages, workflow) lack `repo`"},
			fix:    []string{"tick `repo`"},
			target: doctor.OK,
			failed: true,
		},
		{
			name: "no scopes at all", token: sentinelToken,
			setup:  func(gh *githubtest.Server, tok string) { gh.AddToken(tok, githubtest.Token{Scopes: []string{}}) },
			api:    doctor.Fail,
			found:  []string{"its scopes (none) lack `repo`"},
			target: doctor.OK,
			failed: true,
		},
		{
			name: "no push permission", token: fineGrained,
			setup: func(gh *githubtest.Server, tok string) {
				gh.AddToken(tok, githubtest.Token{Login: "reader", ReadOnly: true})
			},
			api:    doctor.Fail,
			found:  []string{"no push permission on " + gitopsRepo},
			fix:    []string{"Write access", "Contents: Read and write"},
			target: doctor.OK,
			failed: true,
		},
		{
			name: "repository not visible", token: sentinelToken,
			setup: func(gh *githubtest.Server, tok string) {
				gh.AddToken(tok, githubtest.Token{Login: "outsider", Scopes: []string{"repo"}, Repos: []string{"someone/else"}})
			},
			api:    doctor.Fail,
			found:  []string{gitopsRepo + ": 404 Not Found for the token as outsider"},
			fix:    []string{"check GITOPS_REPO"},
			target: doctor.Warn,
			failed: true,
		},
		{
			name: "rate limited (403)", token: sentinelToken,
			setup: func(gh *githubtest.Server, tok string) {
				gh.AddToken(tok, githubtest.Token{Scopes: []string{"repo"}})
				gh.RateLimit(githubtest.Limit{Kind: githubtest.PrimaryLimit, After: time.Hour})
			},
			api:    doctor.Fail,
			found:  []string{"GitHub API rate limit exhausted until"},
			fix:    []string{"wait for the reset"},
			target: doctor.Warn,
			failed: true,
		},
		{
			name: "secondary rate limit (403)", token: sentinelToken,
			setup: func(gh *githubtest.Server, tok string) {
				gh.AddToken(tok, githubtest.Token{Scopes: []string{"repo"}})
				gh.RateLimit(githubtest.Limit{Kind: githubtest.SecondaryLimit, After: time.Minute})
			},
			api:    doctor.Fail,
			found:  []string{"secondary rate limit"},
			target: doctor.Warn,
			failed: true,
		},
		{
			name: "missing branch", token: sentinelToken,
			setup:  func(gh *githubtest.Server, tok string) { gh.AddToken(tok, githubtest.Token{Scopes: []string{"repo"}}) },
			env:    map[string]string{"GITOPS_BRANCH": "production"},
			api:    doctor.OK,
			target: doctor.Fail,
			tfound: []string{`has no branch "production"`},
			tfix:   []string{"GITOPS_BRANCH"},
			failed: true,
		},
		{
			name: "missing path", token: sentinelToken,
			setup:  func(gh *githubtest.Server, tok string) { gh.AddToken(tok, githubtest.Token{Scopes: []string{"repo"}}) },
			env:    map[string]string{"GITOPS_PATH": "manifests/other/deployment.yaml"},
			api:    doctor.OK,
			target: doctor.Fail,
			tfound: []string{"manifests/other/deployment.yaml: no such file"},
			tfix:   []string{"GITOPS_PATH"},
			failed: true,
		},
		{
			name: "path is a directory", token: sentinelToken,
			setup:  func(gh *githubtest.Server, tok string) { gh.AddToken(tok, githubtest.Token{Scopes: []string{"repo"}}) },
			env:    map[string]string{"GITOPS_PATH": "manifests/platform-demo"},
			api:    doctor.OK,
			target: doctor.Fail,
			tfound: []string{"is a directory"},
			failed: true,
		},
		{
			name: "missing container", token: sentinelToken,
			setup:  func(gh *githubtest.Server, tok string) { gh.AddToken(tok, githubtest.Token{Scopes: []string{"repo"}}) },
			env:    map[string]string{"GITOPS_CONTAINER": "web"},
			api:    doctor.OK,
			target: doctor.Fail,
			tfound: []string{`"web"`},
			tfix:   []string{"GITOPS_CONTAINER"},
			failed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := gitopsServer(t)
			if tt.setup != nil {
				tt.setup(gh, tt.token)
			}
			env := githubEnv(gh, tt.token)
			for k, v := range tt.env {
				env[k] = v
			}
			r := run(t, doctor.Options{Settings: load(t, env), HTTPClient: httpClient},
				doctor.CheckToken, doctor.CheckGitHub, doctor.CheckGitops)
			want(t, r, doctor.CheckGitHub, tt.api, tt.found, tt.fix)
			want(t, r, doctor.CheckGitops, tt.target, tt.tfound, tt.tfix)
			if r.Failed() != tt.failed {
				t.Errorf("Failed() = %v, want %v\n%s", r.Failed(), tt.failed, r.Text())
			}
			assertNoSecrets(t, r.Text(), tt.token)
		})
	}
}

// Without a token the API row says so once, and the target is still read.
func TestGitHubWithoutToken(t *testing.T) {
	gh := gitopsServer(t)
	r := run(t, doctor.Options{Settings: load(t, githubEnv(gh, "")), HTTPClient: httpClient},
		doctor.CheckToken, doctor.CheckGitHub, doctor.CheckGitops)
	want(t, r, doctor.CheckToken, doctor.Fail, []string{"unset"}, nil)
	want(t, r, doctor.CheckGitHub, doctor.Warn, []string{"not checked: GITOPS_TOKEN is unset"}, nil)
	// githubtest, like a private repository, answers 401 to anonymous reads.
	want(t, r, doctor.CheckGitops, doctor.Fail, []string{"GET branch main: the host rejected the token (401"}, []string{"set GITOPS_TOKEN"})
}

func TestGitHubUnreachable(t *testing.T) {
	env := map[string]string{"GITOPS_REPO": gitopsRepo, "GITOPS_TOKEN": sentinelToken, "GITHUB_API_URL": closedURL(t) + "/"}
	r := run(t, doctor.Options{Settings: load(t, env), HTTPClient: httpClient}, doctor.CheckGitHub)
	want(t, r, doctor.CheckGitHub, doctor.Fail, []string{"GET /user: no answer from the API at", "connection refused"}, []string{"check GITHUB_API_URL"})
}

// TestGitHubRedirectKeepsToken guards GITOPS_TOKEN: an API host that
// redirects to another host, even on this machine, must not hand it the
// token.
func TestGitHubRedirectKeepsToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address on this machine: %v", err)
	}
	var mu sync.Mutex
	var seen []string
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
	}))
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer api.Close()

	env := map[string]string{"GITOPS_REPO": gitopsRepo, "GITOPS_TOKEN": sentinelToken, "GITHUB_API_URL": api.URL + "/"}
	r := run(t, doctor.Options{Settings: load(t, env), HTTPClient: httpClient}, doctor.CheckGitHub)
	want(t, r, doctor.CheckGitHub, doctor.Fail, []string{"GET /user: the host rejected the token (401"}, nil)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatalf("the redirect target saw no request\n%s", r.Text())
	}
	for _, auth := range seen {
		if auth != "" {
			t.Errorf("the redirect target got an Authorization header (%d characters), want none", len(auth))
		}
	}
}

// TestGitHubPlainHTTPRefused guards GITOPS_TOKEN on the network: doctor
// refuses, as bump does, to send it over plain http to another machine. The
// refusal comes before any request, so nothing is sent to the address.
func TestGitHubPlainHTTPRefused(t *testing.T) {
	env := map[string]string{"GITOPS_REPO": gitopsRepo, "GITOPS_TOKEN": sentinelToken, "GITHUB_API_URL": "http://10.0.0.200/api/v3/"}
	r := run(t, doctor.Options{Settings: load(t, env), HTTPClient: httpClient}, doctor.CheckGitHub, doctor.CheckGitops)
	want(t, r, doctor.CheckGitHub, doctor.Fail, []string{"plain http", "refusing to send the token"}, []string{"https"})
	want(t, r, doctor.CheckGitops, doctor.Warn, []string{"not checked"}, nil)
	assertNoSecrets(t, r.Text(), sentinelToken)
}
