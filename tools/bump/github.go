package bump

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/internal/git"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
)

// githubBackend edits the file through the Contents API: GET returns the
// content and its blob sha, PUT with that sha succeeds only if nobody wrote
// in between.
type githubBackend struct {
	client              *github.Client
	owner, repo         string
	path, branch, token string
	api                 string
	author              git.Identity
}

func newGitHub(opts Options) (*githubBackend, error) {
	client, err := NewGitHubClient(opts.APIURL, opts.Token, opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	owner, repo, _ := strings.Cut(opts.Repo, "/")
	return &githubBackend{
		client: client,
		owner:  owner, repo: repo,
		path: opts.Path, branch: opts.Branch, token: opts.Token,
		api:    client.BaseURL.String(),
		author: opts.Author,
	}, nil
}

// NewGitHubClient returns a go-github client for the API root apiURL that
// sends token on every request to that host and nowhere else: not to a host
// a redirect names, and not over plain http unless the host is loopback.
// hc supplies the timeout and transport; nil means a one-minute timeout.
func NewGitHubClient(apiURL, token string, hc *http.Client) (*github.Client, error) {
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	// Messages never show the URL's user information, which may be a token.
	shown := redact(displayRemote(apiURL), token)
	base, err := url.Parse(apiURL)
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("GitHub API URL %q is not an http(s) URL: set GITHUB_API_URL to e.g. https://api.github.com/", shown)
	}
	if base.Scheme == "http" && token != "" && !loopback.Host(base.Host) {
		return nil, fmt.Errorf("GitHub API URL %s is plain http: refusing to send the token unencrypted; use https", shown)
	}
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	authed := *hc
	authed.Transport = &tokenTransport{token: token, host: base.Host, next: next}
	client := github.NewClient(&authed)
	client.BaseURL = base
	client.UserAgent = "platform-demo-bump"
	return client, nil
}

// tokenTransport adds the token explicitly, so that no ambient credential
// (netrc, a credential helper) is ever consulted or leaked elsewhere.
type tokenTransport struct {
	token, host string
	next        http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if t.token != "" && req.URL.Host == t.host {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.next.RoundTrip(req)
}

func (g *githubBackend) close() {}

func (g *githubBackend) read(ctx context.Context) ([]byte, string, error) {
	file, dir, _, err := g.client.Repositories.GetContents(ctx, g.owner, g.repo, g.path, &github.RepositoryContentGetOptions{Ref: g.branch})
	if err != nil {
		return nil, "", g.explain(ctx, "read", err)
	}
	if file == nil {
		return nil, "", fmt.Errorf("read %s in %s/%s@%s: it is a directory (%d entries): set GITOPS_PATH to the manifest file", g.path, g.owner, g.repo, g.branch, len(dir))
	}
	content, err := file.GetContent()
	if err != nil {
		return nil, "", fmt.Errorf("decode %s from %s/%s@%s: %w", g.path, g.owner, g.repo, g.branch, err)
	}
	return []byte(content), file.GetSHA(), nil
}

func (g *githubBackend) write(ctx context.Context, content []byte, version, message string) (string, string, error) {
	resp, _, err := g.client.Repositories.UpdateFile(ctx, g.owner, g.repo, g.path, &github.RepositoryContentFileOptions{
		Message: github.String(message),
		Content: content,
		SHA:     github.String(version),
		Branch:  github.String(g.branch),
		Author:  &github.CommitAuthor{Name: github.String(g.author.Name), Email: github.String(g.author.Email)},
	})
	if err != nil {
		return "", "", g.explain(ctx, "write", err)
	}
	return resp.Commit.GetSHA(), resp.Commit.GetHTMLURL(), nil
}

// explain turns an API error into one that names the cause and the fix.
func (g *githubBackend) explain(ctx context.Context, op string, err error) error {
	where := fmt.Sprintf("%s/%s@%s:%s", g.owner, g.repo, g.branch, g.path)
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		wait := time.Until(rl.Rate.Reset.Time) + 250*time.Millisecond
		if wait < time.Second {
			wait = time.Second
		}
		return &waitError{after: wait, err: fmt.Errorf("%s %s: GitHub API rate limit exhausted until %s", op, where, rl.Rate.Reset.Format(time.RFC3339))}
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		wait := time.Minute
		if abuse.RetryAfter != nil {
			wait = *abuse.RetryAfter
		}
		return &waitError{after: wait, err: fmt.Errorf("%s %s: GitHub secondary rate limit: %s", op, where, abuse.Message)}
	}
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return fmt.Errorf("%s %s: %w (is the GitHub API at %s reachable?)", op, where, err, g.api)
	}
	status := er.Response.StatusCode
	msg := er.Message
	switch {
	case status == http.StatusTooManyRequests:
		wait := time.Minute
		if s, perr := strconv.Atoi(er.Response.Header.Get("Retry-After")); perr == nil {
			wait = time.Duration(s) * time.Second
		}
		return &waitError{after: wait, err: fmt.Errorf("%s %s: GitHub answered 429 Too Many Requests", op, where)}
	case status == http.StatusConflict,
		status == http.StatusUnprocessableEntity && strings.Contains(strings.ToLower(msg), "does not match"):
		return fmt.Errorf("%s %s: %w (%d %s)", op, where, errConflict, status, msg)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: GitHub rejected the token (401 %s): %s", op, where, msg, fix401(g.token))
	case status == http.StatusForbidden:
		return fmt.Errorf("%s %s: GitHub refused access (403 %s): %s", op, where, msg, fix403(g.owner+"/"+g.repo, msg, er.Response.Header))
	case status == http.StatusNotFound:
		return fmt.Errorf("%s %s: GitHub answered 404: %s", op, where, g.diagnose404(ctx))
	default:
		return fmt.Errorf("%s %s: GitHub answered %d %s", op, where, status, msg)
	}
}

func fix401(token string) string {
	switch {
	case token == "":
		return "no token was given: set GITOPS_TOKEN"
	case len(token) < 20:
		return fmt.Sprintf("the token is %s, too short to be real: check how the secret was stored (`gh secret set NAME --body -` stores a literal \"-\"; pipe the value to `gh secret set NAME` instead)", describeToken(token))
	case strings.HasPrefix(token, "github_pat_"):
		return fmt.Sprintf("the token is %s; GitHub answers 401 for fine-grained tokens that are expired, revoked, or blocked or not yet approved by the organization's policy: ask an org owner to approve it, or use a classic personal access token with the repo scope in GITOPS_TOKEN", describeToken(token))
	default:
		return fmt.Sprintf("the token is %s; it is wrong, expired or revoked: create a new one (classic PAT with the repo scope) and update GITOPS_TOKEN", describeToken(token))
	}
}

func fix403(repo, msg string, h http.Header) string {
	lower := strings.ToLower(msg)
	switch scopes, classic := h["X-Oauth-Scopes"]; {
	case strings.Contains(lower, "saml"):
		return "the organization enforces SAML single sign-on: authorize the token for the organization in the token settings"
	case classic && !hasScope(scopes, "repo") && !hasScope(scopes, "public_repo"):
		return fmt.Sprintf("the classic token has scopes %q but writing contents needs the repo scope: add it or create a new token", strings.Join(scopes, ","))
	case !classic && strings.Contains(lower, "personal access token"):
		return fmt.Sprintf("the fine-grained token lacks \"Contents: read and write\" on %s, or the organization's policy restricts fine-grained tokens: grant the permission, or use a classic PAT with the repo scope", repo)
	default:
		return fmt.Sprintf("the token's user has no push access to %s, or an organization policy blocks this kind of token: use a token of a user with write access (classic PAT with the repo scope)", repo)
	}
}

func hasScope(header []string, scope string) bool {
	for _, h := range header {
		for _, s := range strings.Split(h, ",") {
			if strings.TrimSpace(s) == scope {
				return true
			}
		}
	}
	return false
}

// diagnose404 finds which of repository, branch and path is missing. It
// costs extra calls, but only on the way to a failure.
func (g *githubBackend) diagnose404(ctx context.Context) string {
	repo := g.owner + "/" + g.repo
	if _, _, err := g.client.Repositories.Get(ctx, g.owner, g.repo); err != nil {
		return fmt.Sprintf("repository %s not found, or the token cannot see it (GitHub hides private repositories from tokens without access): check GITOPS_REPO and the token's repository access", repo)
	}
	if _, _, err := g.client.Repositories.GetBranch(ctx, g.owner, g.repo, g.branch, 0); err != nil {
		return fmt.Sprintf("branch %q not found in %s: check GITOPS_BRANCH", g.branch, repo)
	}
	return fmt.Sprintf("file %s not found on branch %s of %s: check GITOPS_PATH", g.path, g.branch, repo)
}
