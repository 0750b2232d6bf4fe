// Package bump promotes an image into a gitops repository: it rewrites the
// image of one container in one manifest and commits the change, either
// through the Contents API (GitHub, GitHub Enterprise, Gitea, Forgejo) or
// with plain git against any remote, to the branch Argo CD follows or, for
// a protected branch, in a pull request to it.
//
// A bump is a compare-and-swap on the file. Concurrent bumps retry on a
// stale write, and the source commit recorded next to the image keeps an
// older pipeline from replacing the image of a newer one.
package bump

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/git"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// Defaults for the Options fields left empty.
const (
	DefaultPath        = "manifests/platform-demo/00-deployment.yaml"
	DefaultBranch      = "main"
	DefaultContainer   = "platform-demo"
	DefaultMaxAttempts = 5
	// DefaultGitMaxAttempts is higher because a git round (fetch, commit,
	// push) holds the race window open far longer than an API round trip.
	DefaultGitMaxAttempts = 10
	// DefaultMergeTimeout bounds the wait for a bump's pull request to
	// become mergeable (its checks to pass) when Merge is set.
	DefaultMergeTimeout = 10 * time.Minute
)

// Modes of a bump.
const (
	// ModePush commits to the branch itself.
	ModePush = "push"
	// ModePR commits to a branch of its own and opens a pull request to the
	// branch, for a branch protected against direct writes.
	ModePR = "pr"
)

// DefaultAuthor authors the commits a bump makes when Options.Author is
// empty: a bot identity that GitHub shows without a profile behind it.
var DefaultAuthor = git.Identity{Name: "platform-demo-bot", Email: "platform-demo-bot@users.noreply.github.com"}

// Ancestry answers whether one source commit is an ancestor of another, so
// that a bump can tell an older build from a newer one.
type Ancestry interface {
	// IsAncestor reports whether ancestor is reachable from descendant. A
	// commit is its own ancestor.
	IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error)
}

// Options says what to bump where.
type Options struct {
	// Repo is the gitops repository: "owner/name" selects the GitHub
	// Contents API; a URL (https://, ssh://, git@host:path, file://) or a
	// local path selects plain git.
	Repo string
	// Path is the manifest inside Repo; DefaultPath when empty.
	Path string
	// Branch is the branch to commit to; DefaultBranch when empty.
	Branch string
	// Container is the container whose image is set; DefaultContainer when
	// empty.
	Container string
	// Token authenticates to GitHub (sent as a bearer token) or to an HTTPS
	// git remote (sent as basic auth). It is never printed.
	Token string
	// APIURL is the GitHub API root, used as the client's base URL as
	// given (GitHub Enterprise and Gitea serve the same API under their own
	// path); forge.DefaultAPIURL when empty.
	APIURL string
	// Image is the new image reference, "repo:tag" or, to pin the digest,
	// "repo:tag@sha256:...".
	Image string
	// SourceCommit is the full sha of the source commit the image was built
	// from. It is recorded next to the image and guards against replacing
	// a newer commit with an older one. Empty skips both.
	SourceCommit string
	// Ancestry orders source commits. It is required once the manifest
	// records a source commit other than SourceCommit, unless Force is set.
	Ancestry Ancestry
	// Force replaces the image even when the manifest holds a newer source
	// commit: a deliberate rollback.
	Force bool
	// Expect, when set, is the image the manifest must deploy for the write
	// to go ahead: a rollback of a version that failed its soak, or the
	// record of its verdict, is about that image and no other. A manifest
	// that deploys another ends the bump with Outcome Moved.
	Expect string
	// Annotations are set on the workload's own metadata in the same write
	// (manifest.Change.Annotations): the verdicts of the soak.
	Annotations map[string]string
	// DryRun computes the change and returns its diff without writing.
	DryRun bool
	// SkipCI appends "[skip ci]" to the commit message, for a gitops
	// manifest that lives in the repository whose pipeline runs the bump.
	SkipCI bool
	// MaxAttempts bounds the tries when a concurrent change wins the race
	// to the file; when zero, DefaultMaxAttempts for the GitHub API and
	// DefaultGitMaxAttempts for git.
	MaxAttempts int
	// App, when set, mints the token the bump uses on the API: an
	// installation token for Repo alone, with the permissions the mode
	// needs. Token is then ignored.
	App *forge.App
	// Mode is ModePush (default) or ModePR.
	Mode string
	// Merge merges the pull request once the host allows it (ModePR),
	// waiting at most MergeTimeout (DefaultMergeTimeout when zero).
	Merge        bool
	MergeTimeout time.Duration
	// Action is what the commit does, for its message: "deploy" (default),
	// "roll back to", "promote" or "verdict on" (the record of a soak).
	Action string
	// Reason says why, for the message of a rollback or a promotion.
	Reason string
	// Environment names the environment the manifest deploys, for the
	// message; empty in a repository with one environment.
	Environment string
	// SourceURL is the source repository's web page, for the commit URL in
	// the message and the pull request.
	SourceURL string
	// Message is the commit message template (see DefaultMessage); empty
	// means DefaultMessage.
	Message string
	// By says who or what made the bump, for the pull request's body (a
	// workflow run's URL, say).
	By string
	// Author authors the commit. On the API an empty one leaves the commit
	// to the token's identity (an App's bot, whose commits GitHub signs);
	// with git it means DefaultAuthor.
	Author git.Identity
	// messageTemplate is Message, parsed by validate.
	messageTemplate *template.Template
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// HTTPClient is used for GitHub API calls; its transport gets the token
	// added. Nil uses a client with a one-minute timeout.
	HTTPClient *http.Client
}

// Outcome is how a bump ended.
type Outcome string

// Outcomes of a bump. All of them are success: the manifest deploys the
// requested image or a newer one.
const (
	// Committed means a commit now sets the image.
	Committed Outcome = "committed"
	// UpToDate means the manifest already had the image and commit.
	UpToDate Outcome = "up-to-date"
	// NewerDeployed means the manifest already deploys a descendant of
	// SourceCommit; nothing was written.
	NewerDeployed Outcome = "newer-deployed"
	// DryRun means the change was computed and not written.
	DryRun Outcome = "dry-run"
	// Proposed means the change waits in a pull request (ModePR), opened,
	// updated or found open already; for git, on a branch pushed for one.
	Proposed Outcome = "proposed"
	// Merged means the pull request was merged: a commit of the branch now
	// sets the image.
	Merged Outcome = "merged"
	// Moved means the manifest no longer deploys Options.Expect: another
	// write replaced it, and nothing was written.
	Moved Outcome = "moved"
)

// Result describes a finished bump.
type Result struct {
	// Outcome says what happened.
	Outcome Outcome
	// Changed reports that the manifest was (or, in a dry run, would be)
	// rewritten.
	Changed bool
	// Commit is the sha of the gitops commit made, empty when none was.
	Commit string
	// URL is the web page of Commit when the host has one.
	URL string
	// Diff is the unified diff of the manifest change, empty when none.
	Diff string
	// Previous is the image the manifest held before.
	Previous string
	// PreviousCommit is the source commit the manifest recorded before.
	PreviousCommit string
	// Image is the image requested.
	Image string
	// Attempts is how many read-edit-write rounds it took.
	Attempts int
	// Branch is the branch the change was committed to in ModePR.
	Branch string
	// PR is the pull request's number and PRURL its page, in ModePR.
	PR    int
	PRURL string
	// Superseded are the numbers of the older bump pull requests this one
	// replaced (and closed).
	Superseded []int
	// NewerPR is the open pull request of a newer commit that made this
	// bump stand down (Outcome NewerDeployed).
	NewerPR int
}

// String summarises the result in one line for a person.
func (r Result) String() string {
	switch r.Outcome {
	case Committed:
		s := fmt.Sprintf("bumped image to %s (was %s): commit %s", r.Image, r.Previous, r.Commit)
		if r.URL != "" {
			s += " " + r.URL
		}
		return s
	case UpToDate:
		return fmt.Sprintf("already at %s: nothing to commit", r.Image)
	case Moved:
		return fmt.Sprintf("not written: the manifest deploys %s now, not %s", r.Previous, r.Image)
	case NewerDeployed:
		if r.NewerPR != 0 {
			return fmt.Sprintf("not bumped: pull request #%d already proposes source commit %s, newer than this one", r.NewerPR, r.PreviousCommit)
		}
		return fmt.Sprintf("not bumped: the manifest deploys source commit %s, newer than this one (set BUMP_FORCE=1 to roll back on purpose)", r.PreviousCommit)
	case Proposed:
		if r.PRURL == "" {
			return fmt.Sprintf("pushed branch %s with the bump to %s: open a pull request from it on the host", r.Branch, r.Image)
		}
		s := fmt.Sprintf("pull request #%d proposes %s: %s", r.PR, r.Image, r.PRURL)
		if len(r.Superseded) > 0 {
			s += fmt.Sprintf(" (supersedes %s)", prList(r.Superseded))
		}
		return s
	case Merged:
		return fmt.Sprintf("merged pull request #%d: %s deployed by commit %s %s", r.PR, r.Image, r.Commit, r.PRURL)
	case DryRun:
		if !r.Changed {
			return fmt.Sprintf("dry run: already at %s", r.Image)
		}
		return fmt.Sprintf("dry run: would bump image from %s to %s\n%s", r.Previous, r.Image, r.Diff)
	}
	return string(r.Outcome)
}

func prList(numbers []int) string {
	var parts []string
	for _, n := range numbers {
		parts = append(parts, fmt.Sprintf("#%d", n))
	}
	return strings.Join(parts, ", ")
}

// backend reads and conditionally writes one file of a gitops repository.
type backend interface {
	// read returns the file and a version that write checks against.
	read(ctx context.Context) (content []byte, version string, err error)
	// write stores content if the file is still at version, or returns an
	// error wrapping errConflict.
	write(ctx context.Context, content []byte, version, message string) (commit, url string, err error)
	// propose puts content before the branch in a pull request (ModePR).
	propose(ctx context.Context, opts Options, p proposal) (Result, error)
	// history lists the commits that changed the file, newest first.
	history(ctx context.Context, container string, limit int) ([]Revision, error)
	close()
}

// errConflict means the file changed between read and write.
var errConflict = errors.New("the file changed since it was read")

// waitError asks the caller to wait before trying again (rate limits).
type waitError struct {
	after time.Duration
	err   error
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// TokenRule is what a real GITOPS_TOKEN looks like: Image refuses a token
// that cannot be one before it sends anything.
var TokenRule = secret.Rule{Name: "GITOPS_TOKEN", MinLen: forge.MinTokenLen}

// Image sets the image of a container in a gitops repository and commits
// the change.
func Image(ctx context.Context, opts Options) (Result, error) {
	opts = opts.withDefaults()
	if err := (&opts).validate(); err != nil {
		return Result{}, err
	}
	perms := forge.Permissions{Contents: "write"}
	if opts.Mode == ModePR {
		perms.PullRequests = "write"
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultGitMaxAttempts
		if IsGitHubRepo(opts.Repo) {
			opts.MaxAttempts = DefaultMaxAttempts
		}
	}
	b, opts, err := open(ctx, opts, perms)
	if err != nil {
		return Result{}, err
	}
	defer b.close()
	res, err := run(ctx, opts, b)
	return res, redactErr(err, opts.Token)
}

func (o Options) withDefaults() Options {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	if o.Container == "" {
		o.Container = DefaultContainer
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Mode == "" {
		o.Mode = ModePush
	}
	o.SourceCommit = strings.ToLower(strings.TrimSpace(o.SourceCommit))
	return o
}

func (o *Options) validate() error {
	if o.Message != "" {
		t, err := ParseMessage(o.Message)
		if err != nil {
			return err
		}
		o.messageTemplate = t
	}
	if o.Repo == "" {
		return errors.New("bump: no gitops repository: set GITOPS_REPO to owner/name (GitHub) or a git URL or path")
	}
	// Before anything is sent or cloned: the API client refuses ".." with
	// an error that reads as a network failure, and git would write beside
	// its clone.
	if err := CheckPath(o.Path); err != nil {
		return fmt.Errorf("bump: path %q %w", o.Path, err)
	}
	if _, err := name.ParseReference(o.Image); err != nil || imageTag(o.Image) == "" {
		return fmt.Errorf("bump: image %q is not a reference with a tag or digest (want repo:tag or repo:tag@sha256:...)", o.Image)
	}
	if o.SourceCommit != "" && !shaPattern.MatchString(o.SourceCommit) {
		return fmt.Errorf("bump: source commit %q is not a full commit sha (40 hex characters)", o.SourceCommit)
	}
	if o.Mode != ModePush && o.Mode != ModePR {
		return fmt.Errorf("bump: mode %q: want %q or %q", o.Mode, ModePush, ModePR)
	}
	if o.Merge && o.Mode != ModePR {
		return errors.New("bump: merging needs a pull request: set BUMP_MODE=pr")
	}
	return CheckCredentials(o.Repo, o.Token, o.App)
}

// CheckCredentials refuses, before anything is sent, credentials that
// cannot write repo: none for a repository on the API, or a token that
// cannot be real. Callers that start long work (mage ci) ask it first.
func CheckCredentials(repo, token string, app *forge.App) error {
	if app != nil {
		return nil
	}
	if err := TokenRule.Check(token); err != nil {
		return err
	}
	if IsGitHubRepo(repo) && token == "" {
		return fmt.Errorf("bump: no credentials to write %s: set GITOPS_APP_ID and GITOPS_APP_PRIVATE_KEY (a GitHub App installed on the repository), or GITOPS_TOKEN (docs/runbook.md, step 2)", repo)
	}
	return nil
}

// IsGitHubRepo reports whether repo names a GitHub repository ("owner/name")
// rather than a git URL or a local path. The value alone decides, never what
// the working directory holds: a relative path is written ./dir/name.
// Image chooses its backend with it.
func IsGitHubRepo(repo string) bool {
	if strings.Contains(repo, ":") || strings.HasPrefix(repo, ".") || strings.HasPrefix(repo, "~") || filepath.IsAbs(repo) {
		return false
	}
	return ownerName.MatchString(repo)
}

var ownerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$`)

// imageTag returns the tag of ref, or its digest when it has no tag.
func imageTag(ref string) string {
	rest, digest, _ := strings.Cut(ref, "@")
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		return rest[i+1:]
	}
	return digest
}

// run is the read-guard-edit-write loop shared by both backends.
func run(ctx context.Context, opts Options, b backend) (Result, error) {
	log := opts.Logger
	g := &guard{opts: opts, memo: map[[2]string]bool{}}
	res := Result{Image: opts.Image}
	waits := 0
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		content, version, err := b.read(ctx)
		if err == nil {
			var cur manifest.Current
			cur, err = manifest.Read(content, opts.Container)
			if err != nil {
				return res, fmt.Errorf("read %s: %w", opts.Path, err)
			}
			res.Previous, res.PreviousCommit = cur.Image, cur.SourceCommit
			if opts.Expect != "" && cur.Image != opts.Expect {
				log.Info("the manifest deploys another image: nothing to write", "deployed", cur.Image, "expected", opts.Expect)
				res.Outcome = Moved
				return res, nil
			}

			newer, gerr := g.newerDeployed(ctx, cur.SourceCommit)
			if gerr != nil {
				return res, gerr
			}
			if newer {
				log.Info("newer source commit already deployed", "deployed", cur.SourceCommit, "this", opts.SourceCommit)
				res.Outcome = NewerDeployed
				return res, nil
			}
			out, changed, eerr := manifest.Edit(content, manifest.Change{Container: opts.Container, Image: opts.Image, SourceCommit: opts.SourceCommit, Annotations: opts.Annotations})
			if eerr != nil {
				return res, fmt.Errorf("edit %s: %w", opts.Path, eerr)
			}
			if !changed {
				res.Outcome = UpToDate
				if opts.DryRun {
					res.Outcome = DryRun
				}
				return res, nil
			}
			res.Changed = true
			res.Diff = unifiedDiff("a/"+opts.Path, "b/"+opts.Path, content, out)
			if opts.DryRun {
				res.Outcome = DryRun
				return res, nil
			}
			msg, merr := opts.message(cur.Image, cur.SourceCommit)
			if merr != nil {
				return res, merr
			}
			if opts.Mode == ModePR {
				var pr Result
				pr, err = b.propose(ctx, opts, proposal{
					content: out, base: version, message: msg, branch: opts.branchName(), body: opts.forBody().prBody(res.Diff),
					newer: func(ctx context.Context, commit string) (bool, error) { return g.newerDeployed(ctx, commit) },
				})
				res.Commit, res.Branch, res.PR, res.PRURL = pr.Commit, pr.Branch, pr.PR, pr.PRURL
				res.Superseded, res.NewerPR = pr.Superseded, pr.NewerPR
				if err == nil {
					res.Outcome = pr.Outcome
					if pr.Outcome == NewerDeployed {
						res.PreviousCommit = pr.PreviousCommit
					}
					log.Info("proposed", "outcome", res.Outcome, "pr", res.PR, "branch", res.Branch)
					return res, nil
				}
			} else {
				res.Commit, res.URL, err = b.write(ctx, out, version, msg)
				if err == nil {
					res.Outcome = Committed
					log.Info("committed", "commit", res.Commit, "attempts", attempt)
					return res, nil
				}
			}
		}

		var wait *waitError
		switch {
		case errors.As(err, &wait) && waits < opts.MaxAttempts:
			waits++
			attempt-- // a rate limit is not a lost race
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait.after {
				return res, fmt.Errorf("%w; the deadline comes before the limit resets in %s", err, wait.after.Round(time.Second))
			}
			log.Info("rate limited, waiting", "wait", wait.after, "reason", err)
			if serr := sleep(ctx, wait.after); serr != nil {
				return res, fmt.Errorf("%w; gave up waiting: %v", err, serr)
			}
		case errors.Is(err, errConflict) && attempt < opts.MaxAttempts:
			d := backoff(attempt)
			log.Info("file changed concurrently, retrying", "attempt", attempt, "wait", d, "reason", err)
			if serr := sleep(ctx, d); serr != nil {
				return res, fmt.Errorf("%w; gave up: %v", err, serr)
			}
		case errors.Is(err, errConflict):
			return res, fmt.Errorf("%w, on each of %d attempts: other writers keep changing it; run the bump again", err, attempt)
		default:
			return res, err
		}
	}
}

// backoff returns a random delay for retry n (1-based) from a window that
// doubles each time (full jitter), so that the losers of a race spread out
// instead of colliding again in lockstep.
func backoff(n int) time.Duration {
	window := min(100*time.Millisecond<<(n-1), 2*time.Second)
	return time.Millisecond + rand.N(window)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// guard decides whether the manifest already deploys a newer source commit.
type guard struct {
	opts Options
	memo map[[2]string]bool
}

func (g *guard) newerDeployed(ctx context.Context, deployed string) (bool, error) {
	deployed = strings.ToLower(strings.TrimSpace(deployed))
	this := g.opts.SourceCommit
	if deployed == "" || this == "" || deployed == this {
		return false, nil
	}
	if g.opts.Force {
		g.opts.Logger.Warn("replacing the deployed source commit without checking ancestry (force)", "deployed", deployed, "this", this)
		return false, nil
	}
	if g.opts.Ancestry == nil {
		return false, fmt.Errorf("the manifest deploys source commit %s and there is no way to tell whether %s is newer: configure the source repository for ancestry checks, or set BUMP_FORCE=1 to replace it anyway", deployed, this)
	}
	forward, err := g.isAncestor(ctx, deployed, this)
	if err != nil || forward {
		return false, err
	}
	backward, err := g.isAncestor(ctx, this, deployed)
	if err != nil {
		return false, err
	}
	if backward {
		return true, nil
	}
	return false, fmt.Errorf("source commit %s does not descend from the deployed %s (diverged history, e.g. a force push): set BUMP_FORCE=1 to deploy it anyway", this, deployed)
}

// isAncestor memoises answers: ancestry of two commits never changes, and a
// retry after a lost race often asks the same question again.
func (g *guard) isAncestor(ctx context.Context, a, d string) (bool, error) {
	key := [2]string{a, d}
	if v, ok := g.memo[key]; ok {
		return v, nil
	}
	v, err := g.opts.Ancestry.IsAncestor(ctx, a, d)
	if err != nil {
		return false, fmt.Errorf("order source commits %.12s and %.12s: %w", a, d, err)
	}
	g.memo[key] = v
	return v, nil
}

// open returns the backend for opts.Repo: the Contents API for owner/name,
// with an installation token of perms when a GitHub App is set, and git
// otherwise; and opts with the token it uses.
func open(ctx context.Context, opts Options, perms forge.Permissions) (backend, Options, error) {
	if !IsGitHubRepo(opts.Repo) {
		b, err := newGit(opts)
		if err != nil {
			return nil, opts, redactErr(err, opts.Token)
		}
		return b, opts, nil
	}
	if opts.App != nil {
		tok, err := opts.App.InstallationToken(ctx, opts.APIURL, opts.Repo, perms, opts.HTTPClient)
		if err != nil {
			return nil, opts, err
		}
		opts.Token = tok.Value
		opts.Logger.Info("minted an installation token", "installation", tok.InstallationID, "repository", opts.Repo, "expires", tok.Expires.Format(time.RFC3339))
	}
	b, err := newGitHub(opts)
	if err != nil {
		return nil, opts, redactErr(err, opts.Token)
	}
	return b, opts, nil
}
