package forge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// Context says what a request was made as and about, which is what the
// meaning of an answer depends on.
type Context struct {
	// Token is the token the request carried ("" for none).
	Token string
	// App reports that Token was minted from GitHub App credentials
	// (GITOPS_APP_ID), so the fix is about the App, not a token secret.
	App bool
	// Repo is the gitops repository, owner/name.
	Repo string
	// API is the API root, named when the host does not answer.
	API string
	// SourceRepo is the repository whose Actions secrets hold the token,
	// for the fix that says how to store it.
	SourceRepo string
}

// Problem is what a failed request means and what to do about it.
type Problem struct {
	// Status is the HTTP status, or 0 when the host did not answer.
	Status int
	// Message is the host's own message, when it sent one.
	Message string
	// Cause says what happened, in one line.
	Cause string
	// Fix says what to do next; empty when there is nothing to do but wait
	// or retry.
	Fix string
	// RetryAfter is set for rate limits: how long to wait.
	RetryAfter time.Duration
	// Conflict reports a write that lost a race: the file changed since
	// it was read (a stale blob sha), or the branch moved while the host
	// committed (a lost lock on the branch ref). Read again and retry.
	Conflict bool
	// Refused reports a write the host refused for a reason other than
	// credentials (409, 422, or 403 from a host that uses it so): on a
	// protected branch, the caller can tell by asking the branch.
	Refused bool
	// Interrupted reports a request whose context was cancelled (Ctrl-C,
	// SIGTERM) before the host answered: nothing is wrong with the host.
	Interrupted bool
	// Err is the failure of a request the host did not answer, if any.
	Err error
}

// Unwrap returns the failure of a request the host did not answer, so that
// errors.Is(err, context.Canceled) holds for an interrupted one.
func (p Problem) Unwrap() error { return p.Err }

// Error reads as the cause and the fix.
func (p Problem) Error() string {
	if p.Fix == "" {
		return p.Cause
	}
	return p.Cause + ": " + p.Fix
}

// Explain says what err, from a go-github call made as c describes, means.
func Explain(err error, c Context) Problem {
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		wait := max(time.Until(rl.Rate.Reset.Time)+250*time.Millisecond, time.Second)
		return Problem{Status: http.StatusForbidden, Message: rl.Message, RetryAfter: wait,
			Cause: fmt.Sprintf("GitHub API rate limit exhausted until %s", rl.Rate.Reset.Format(time.RFC3339)),
			Fix:   "wait for the reset, or use a token of another account (an App installation has its own, higher limit)"}
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		wait := time.Minute
		if abuse.RetryAfter != nil {
			wait = *abuse.RetryAfter
		}
		return Problem{Status: http.StatusForbidden, Message: abuse.Message, RetryAfter: wait,
			Cause: "GitHub secondary rate limit: " + abuse.Message, Fix: "wait a few minutes, and keep bumps from running in parallel"}
	}
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &er) && er.Response != nil:
	case errors.Is(err, context.Canceled):
		return Problem{Cause: "interrupted before the host answered", Interrupted: true, Err: err}
	default:
		return Problem{Cause: "no answer from the API at " + Display(c.API) + ": " + Cause(err),
			Fix: "check GITHUB_API_URL and that this machine can reach it", Err: err}
	}
	p := Problem{Status: er.Response.StatusCode, Message: er.Message}
	lower := strings.ToLower(er.Message)
	switch status := p.Status; {
	case status == http.StatusTooManyRequests:
		p.RetryAfter = time.Minute
		if s, perr := strconv.Atoi(er.Response.Header.Get("Retry-After")); perr == nil {
			p.RetryAfter = time.Duration(s) * time.Second
		}
		p.Cause = "429 Too Many Requests"
	case status == http.StatusConflict && strings.Contains(lower, "does not match"),
		status == http.StatusUnprocessableEntity && strings.Contains(lower, "does not match"):
		p.Conflict = true
		p.Cause = fmt.Sprintf("the file changed since it was read (%d %s)", status, er.Message)
	case LostRace(er.Message):
		// Read by content, not status: Gitea answers a lost ref lock with
		// the 403 it also gives a protected branch, GitHub with 409.
		p.Conflict = true
		p.Cause = fmt.Sprintf("the branch moved while the host wrote the commit (%d %s)", status, er.Message)
	case status == http.StatusUnauthorized:
		p.Cause = fmt.Sprintf("the host rejected the token (401 %s)", er.Message)
		p.Fix = c.fix401(er.Message)
	case status == http.StatusForbidden && c.App && strings.Contains(lower, "not accessible by integration"):
		p.Refused = true
		p.Cause = fmt.Sprintf("the GitHub App may not do this (403 %s)", er.Message)
		p.Fix = fmt.Sprintf("give the App the repository permissions Contents: Read and write (and Pull requests: Read and write for BUMP_MODE=pr), accept the new permissions on its installation, and install it on %s", c.Repo)
	case status == http.StatusForbidden:
		p.Refused = true
		p.Cause = fmt.Sprintf("access refused (403 %s)", er.Message)
		p.Fix = c.fix403(er.Message, er.Response.Header)
	case status == http.StatusNotFound:
		p.Cause = "404 Not Found"
		p.Fix = fmt.Sprintf("check GITOPS_REPO, GITOPS_BRANCH and GITOPS_PATH, and that the token can see %s", c.Repo)
	case status == http.StatusConflict, status == http.StatusUnprocessableEntity:
		p.Refused = true
		p.Cause = fmt.Sprintf("the write was refused (%d %s)", status, er.Message)
	default:
		p.Cause = fmt.Sprintf("%d %s", status, er.Message)
		p.Fix = "check GITHUB_API_URL and the host's status page"
	}
	return p
}

// raceWords are in the messages hosts give a write whose commit lost the
// race for the branch ref to another write: git's own "cannot lock ref
// 'refs/heads/main': is at <sha> but expected <sha>" (Gitea and Forgejo,
// 403), GitHub's "is at <sha> but expected <sha>" and, from older GitHub
// Enterprise, "refs/heads/main expected to be at <sha>" (409).
var raceWords = []string{"cannot lock ref", "but expected", "expected to be at"}

// LostRace reports whether a host's message says a write lost the race for
// the branch ref: nothing is wrong with the request, and the same write,
// made again on the branch's new head, succeeds.
func LostRace(message string) bool {
	lower := strings.ToLower(message)
	for _, w := range raceWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// ProtectedBranch is the problem of a direct write to a protected branch.
func ProtectedBranch(branch string, p Problem) Problem {
	p.Refused = false
	p.Cause = fmt.Sprintf("branch %s is protected: it takes changes only through pull requests (%d %s)", branch, p.Status, p.Message)
	p.Fix = "set BUMP_MODE=pr to open a pull request for the bump instead (BUMP_MERGE=1 merges it once the branch's checks pass)"
	return p
}

// protectionWords are in the messages hosts give a direct write to a
// protected branch: GitHub ("Changes must be made through a pull request",
// "Repository rule violations found", "required status checks"), Gitea and
// Forgejo ("user cannot commit to repo", "permission to write to the target
// branch").
var protectionWords = []string{"pull request", "rule violation", "status check", "protected", "cannot commit", "write to the target branch"}

// SaysProtected reports whether the host's message names branch protection.
func (p Problem) SaysProtected() bool {
	lower := strings.ToLower(p.Message)
	for _, w := range protectionWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

func (c Context) fix401(message string) string {
	kind := KindOf(c.Token)
	switch {
	case c.App:
		return "the installation token minted from GITOPS_APP_ID and GITOPS_APP_PRIVATE_KEY was refused; run `go tool mage doctor`, which checks the App step by step"
	case c.Token == "":
		return "no token was sent: set GITOPS_TOKEN, or GITOPS_APP_ID and GITOPS_APP_PRIVATE_KEY (docs/runbook.md, step 2)"
	case len(c.Token) < MinTokenLen:
		return fmt.Sprintf("%s is too short to be an access token. %s", Describe(c.Token), c.setFix())
	case kind == FineGrainedPAT:
		return fmt.Sprintf("%s; GitHub answers 401 for fine-grained tokens that are expired, revoked, or blocked (or not yet approved) by the organization's policy, with no pending approval shown anywhere: "+
			"ask an org owner to approve it, or use a GitHub App (GITOPS_APP_ID) or a classic PAT with the repo scope (docs/runbook.md, step 2)", Describe(c.Token))
	case kind == InstallationToken:
		return fmt.Sprintf("%s; installation tokens expire after an hour: mint a new one in the job (actions/create-github-app-token), or let the bump mint it from GITOPS_APP_ID and GITOPS_APP_PRIVATE_KEY", Describe(c.Token))
	case kind == HexToken:
		return fmt.Sprintf("%s; it is wrong, expired, revoked or mistyped: create a new one (Gitea and Forgejo: Settings → Applications, with the write:repository scope; GitHub: a GitHub App, or a classic PAT with the repo scope; docs/runbook.md, step 2). %s", Describe(c.Token), c.setFix())
	}
	return fmt.Sprintf("%s; it is wrong, expired, revoked or mistyped: create a new one (a GitHub App, or a classic PAT with the repo scope; docs/runbook.md, step 2). %s", Describe(c.Token), c.setFix())
}

func (c Context) fix403(message string, h http.Header) string {
	lower := strings.ToLower(message)
	switch scopes, classic := h["X-Oauth-Scopes"]; {
	case strings.Contains(lower, "saml"):
		return "the organization enforces SAML single sign-on: authorize the token for the organization (Configure SSO on the token's page)"
	case classic && !HasScope(scopes, "repo") && !HasScope(scopes, "public_repo"):
		return fmt.Sprintf("the classic token has scopes %q but writing contents needs the repo scope: add it or create a new token", strings.Join(scopes, ","))
	case KindOf(c.Token) == InstallationToken && strings.Contains(lower, "not accessible by integration"):
		return fmt.Sprintf("the installation token may not write %s: the App needs Contents: Read and write there, and the workflow's own GITHUB_TOKEN can never write another repository", c.Repo)
	case !classic && strings.Contains(lower, "personal access token"):
		return fmt.Sprintf("the fine-grained token lacks \"Contents: Read and write\" on %s, or the organization's policy restricts fine-grained tokens: grant the permission, or use a GitHub App (GITOPS_APP_ID) or a classic PAT with the repo scope", c.Repo)
	}
	return fmt.Sprintf("the token's account has no push access to %s, or an organization policy blocks this kind of token: use a GitHub App installed on the repository, or a token of an account with write access", c.Repo)
}

func (c Context) setFix() string {
	return secret.Rule{Name: "GITOPS_TOKEN", Repo: c.SourceRepo}.SetFix()
}

// HasScope reports whether the X-OAuth-Scopes header values list scope.
func HasScope(header []string, scope string) bool {
	for _, h := range header {
		for _, s := range strings.Split(h, ",") {
			if strings.TrimSpace(s) == scope {
				return true
			}
		}
	}
	return false
}

// Status is the HTTP status of a go-github error, or 0.
func Status(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// Cause is the cause of a failed request, without the request itself,
// whose URL the caller names: "connection refused", "cannot resolve
// host", "no answer in time".
func Cause(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "cannot resolve " + dnsErr.Name
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// Diagnose finds which of repository, branch and file is missing after a
// 404, which GitHub also answers for private repositories a token cannot
// see. It costs calls, but only on the way to a failure.
func Diagnose(ctx context.Context, client *github.Client, repo, branch, path string) string {
	owner, name, _ := strings.Cut(repo, "/")
	if _, _, err := client.Repositories.Get(ctx, owner, name); err != nil {
		return fmt.Sprintf("repository %s not found, or the token cannot see it (GitHub hides private repositories from tokens without access): check GITOPS_REPO and the token's repository access", repo)
	}
	if _, _, err := client.Repositories.GetBranch(ctx, owner, name, branch, 0); err != nil {
		return fmt.Sprintf("branch %q not found in %s: check GITOPS_BRANCH", branch, repo)
	}
	return fmt.Sprintf("file %s not found on branch %s of %s: check GITOPS_PATH", path, branch, repo)
}
