package bump

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// proposal is a change to put before the branch in a pull request.
type proposal struct {
	// content is the manifest as the pull request would make it, and base
	// the version (blob sha) of the manifest it was edited from.
	content []byte
	base    string
	// message is the commit message; its first line titles the pull request.
	message string
	// branch is the bump's own branch.
	branch string
	// body describes the pull request.
	body string
	// newer reports whether a source commit is newer than the bump's: a
	// pull request proposing one stops the bump, an older one is replaced.
	newer func(ctx context.Context, commit string) (bool, error)
}

// branchPrefix starts the branch of every bump of o's container in o's
// environment; the rest is the short source commit (or the image tag). The
// environment keeps a promotion's pull request apart from the deploy of
// the same commit to the environment before it.
func (o Options) branchPrefix() string {
	if o.Environment != "" {
		return "bump/" + o.Environment + "/" + o.Container + "-"
	}
	return "bump/" + o.Container + "-"
}

var unsafeRef = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// branchName is the branch of the bump of o.
func (o Options) branchName() string {
	id := imageTag(o.Image)
	if len(o.SourceCommit) >= 7 {
		id = o.SourceCommit[:7]
	}
	return o.branchPrefix() + unsafeRef.ReplaceAllString(id, "-")
}

// prBody says what the pull request deploys, from where, and who asks.
func (o Options) prBody(diff string) string {
	d := o.messageData("", "")
	var b strings.Builder
	fmt.Fprintf(&b, "Deploys `%s` to `%s` in `%s` on `%s`", d.Pinned, o.Container, o.Path, o.Branch)
	if o.Environment != "" {
		fmt.Fprintf(&b, " (%s)", o.Environment)
	}
	b.WriteString(".\n\n")
	b.WriteString("| | |\n|---|---|\n")
	switch {
	case d.CommitURL != "":
		fmt.Fprintf(&b, "| source commit | [`%s`](%s) |\n", d.Short, d.CommitURL)
	case d.Commit != "":
		fmt.Fprintf(&b, "| source commit | `%s` |\n", d.Commit)
	}
	fmt.Fprintf(&b, "| image | `%s` |\n", d.Pinned)
	if o.By != "" {
		fmt.Fprintf(&b, "| made by | %s |\n", o.By)
	}
	if o.Reason != "" {
		fmt.Fprintf(&b, "| reason | %s |\n", o.Reason)
	}
	fmt.Fprintf(&b, "\n```diff\n%s```\n", diff)
	b.WriteString("\nA newer bump closes this pull request and opens its own; an older one leaves it be.\n")
	return b.String()
}

// pull is an open bump pull request.
type pull struct {
	number  int
	url     string
	head    string
	headSHA string
}

// propose puts the change in the pull request of its branch: it finds the
// bump pull requests open on the branch, stands down for a newer one,
// reuses its own, opens it otherwise, closes the older ones, and merges it
// when asked.
func (g *githubBackend) propose(ctx context.Context, opts Options, p proposal) (Result, error) {
	res := Result{Outcome: Proposed, Branch: p.branch}
	open, err := g.openBumps(ctx, opts.branchPrefix())
	if err != nil {
		return res, err
	}
	var own *pull
	var older []pull
	for _, pr := range open {
		if pr.head == p.branch {
			own = &pr
			continue
		}
		commit, err := g.sourceCommitAt(ctx, pr.headSHA, opts.Container)
		if err != nil {
			return res, err
		}
		newer, err := p.newer(ctx, commit)
		if err != nil {
			return res, err
		}
		if newer {
			res.Outcome, res.NewerPR, res.PreviousCommit = NewerDeployed, pr.number, commit
			return res, nil
		}
		older = append(older, pr)
	}

	if own != nil {
		content, version, err := g.readAt(ctx, own.head)
		if err != nil {
			return res, err
		}
		if string(content) != string(p.content) {
			// The branch of an earlier run of this bump: bring it up to date.
			if _, _, err := g.writeTo(ctx, own.head, p.content, version, p.message); err != nil {
				return res, err
			}
		}
		res.PR, res.PRURL = own.number, own.url
	} else {
		if err := g.freshBranch(ctx, p.branch); err != nil {
			return res, err
		}
		pr, err := g.open(ctx, p)
		if err != nil {
			return res, g.abandon(ctx, p.branch, err)
		}
		res.PR, res.PRURL = pr.GetNumber(), pr.GetHTMLURL()
	}
	for _, pr := range older {
		if err := g.supersede(ctx, pr, res.PR); err != nil {
			return res, err
		}
		res.Superseded = append(res.Superseded, pr.number)
	}
	if !opts.Merge {
		return res, nil
	}
	return g.mergeWhenReady(ctx, opts, p, res)
}

// open writes the change on the bump's fresh branch and opens its pull
// request.
func (g *githubBackend) open(ctx context.Context, p proposal) (*github.PullRequest, error) {
	if _, _, err := g.writeTo(ctx, p.branch, p.content, p.base, p.message); err != nil {
		return nil, err
	}
	title, _, _ := strings.Cut(p.message, "\n")
	pr, _, err := g.client.PullRequests.Create(ctx, g.owner, g.repo, &github.NewPullRequest{
		Title: github.String(title), Head: github.String(p.branch), Base: github.String(g.branch), Body: github.String(p.body),
	})
	if err != nil {
		return nil, g.explainPR("open a pull request from "+p.branch, err)
	}
	return pr, nil
}

// cleanupTimeout bounds the calls that undo a failed or interrupted
// proposal. Mage gives a target five seconds after Ctrl-C.
const cleanupTimeout = 4 * time.Second

// abandon deletes the branch a proposal created when it failed, or was
// interrupted, before its pull request was opened, so that no stray branch
// is left, and returns cause with what, if anything, is left. The caller's
// context may be what ended: the cleanup runs on a short one of its own.
func (g *githubBackend) abandon(ctx context.Context, branch string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// The pull request may have been opened with its answer lost.
	if open, err := g.openBumps(ctx, branch); err == nil {
		for _, pr := range open {
			if pr.head == branch {
				return fmt.Errorf("%w; pull request #%d (%s) from %s was opened nonetheless and is left open, unmerged: close it on the host, or run the bump again to reuse it", cause, pr.number, pr.url, branch)
			}
		}
	}
	if err := g.deleteBranch(ctx, branch); err != nil {
		return fmt.Errorf("%w; branch %s, created for the pull request, is left: delete it on the host (%v)", cause, branch, err)
	}
	return fmt.Errorf("%w; branch %s, created for the pull request, was deleted again", cause, branch)
}

// openBumps lists the open pull requests into the branch whose head is a
// bump branch. Gitea does not filter by head, so nothing here asks it to.
func (g *githubBackend) openBumps(ctx context.Context, prefix string) ([]pull, error) {
	var out []pull
	opt := &github.PullRequestListOptions{State: "open", Base: g.branch, ListOptions: github.ListOptions{PerPage: 100}}
	for {
		prs, resp, err := g.client.PullRequests.List(ctx, g.owner, g.repo, opt)
		if err != nil {
			return nil, g.explainPR("list the open pull requests", err)
		}
		for _, pr := range prs {
			if head := pr.GetHead().GetRef(); strings.HasPrefix(head, prefix) && pr.GetBase().GetRef() == g.branch {
				out = append(out, pull{number: pr.GetNumber(), url: pr.GetHTMLURL(), head: head, headSHA: pr.GetHead().GetSHA()})
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opt.Page = resp.NextPage
	}
}

// sourceCommitAt is the source commit the manifest records at ref.
func (g *githubBackend) sourceCommitAt(ctx context.Context, ref, container string) (string, error) {
	content, _, err := g.readAt(ctx, ref)
	if err != nil {
		return "", err
	}
	cur, err := manifest.Read(content, container)
	if err != nil {
		return "", fmt.Errorf("read %s at %.12s: %w", g.path, ref, err)
	}
	return strings.ToLower(cur.SourceCommit), nil
}

// gitea reports how the host creates branches and merges pull requests: as
// GitHub does, or as Gitea and Forgejo do.
func (g *githubBackend) gitea(ctx context.Context) (bool, error) {
	if g.isGitea != nil {
		return *g.isGitea, nil
	}
	// Gitea and Forgejo answer GET /version; GitHub has no such endpoint.
	req, err := g.client.NewRequest(http.MethodGet, "version", nil)
	if err != nil {
		return false, err
	}
	var v struct {
		Version string `json:"version"`
	}
	_, err = g.client.Do(ctx, req, &v)
	is := err == nil && v.Version != ""
	g.isGitea = &is
	return is, nil
}

// freshBranch makes branch point at the head of the base branch, creating
// it, or resetting a stale one left by an earlier run whose pull request
// is gone.
func (g *githubBackend) freshBranch(ctx context.Context, branch string) error {
	gitea, err := g.gitea(ctx)
	if err != nil {
		return err
	}
	if gitea {
		// Gitea creates a branch from another by name; a stale one goes first.
		body := map[string]string{"new_branch_name": branch, "old_branch_name": g.branch}
		req, err := g.client.NewRequest(http.MethodPost, fmt.Sprintf("repos/%s/%s/branches", g.owner, g.repo), body)
		if err != nil {
			return err
		}
		_, err = g.client.Do(ctx, req, nil)
		if forge.Status(err) == http.StatusConflict {
			if err := g.deleteBranch(ctx, branch); err != nil {
				return err
			}
			_, err = g.client.Do(ctx, req, nil)
		}
		if err != nil {
			return g.explainPR("create branch "+branch, err)
		}
		return nil
	}
	base, _, err := g.client.Git.GetRef(ctx, g.owner, g.repo, "heads/"+g.branch)
	if err != nil {
		return g.explainPR("read branch "+g.branch, err)
	}
	ref := &github.Reference{Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: base.Object.SHA}}
	if _, _, err = g.client.Git.CreateRef(ctx, g.owner, g.repo, ref); forge.Status(err) == http.StatusUnprocessableEntity {
		_, _, err = g.client.Git.UpdateRef(ctx, g.owner, g.repo, ref, true)
	}
	if err != nil {
		return g.explainPR("create branch "+branch, err)
	}
	return nil
}

func (g *githubBackend) deleteBranch(ctx context.Context, branch string) error {
	gitea, err := g.gitea(ctx)
	if err != nil {
		return err
	}
	if gitea {
		req, err := g.client.NewRequest(http.MethodDelete, fmt.Sprintf("repos/%s/%s/branches/%s", g.owner, g.repo, branch), nil)
		if err == nil {
			_, err = g.client.Do(ctx, req, nil)
		}
		if err != nil && forge.Status(err) != http.StatusNotFound {
			return g.explainPR("delete branch "+branch, err)
		}
		return nil
	}
	if _, err := g.client.Git.DeleteRef(ctx, g.owner, g.repo, "heads/"+branch); err != nil && forge.Status(err) != http.StatusNotFound && forge.Status(err) != http.StatusUnprocessableEntity {
		return g.explainPR("delete branch "+branch, err)
	}
	return nil
}

// supersede closes an older bump's pull request, says why, and deletes its
// branch.
func (g *githubBackend) supersede(ctx context.Context, old pull, by int) error {
	note := fmt.Sprintf("Superseded by #%d, which deploys a newer source commit.", by)
	if _, _, err := g.client.Issues.CreateComment(ctx, g.owner, g.repo, old.number, &github.IssueComment{Body: github.String(note)}); err != nil {
		return g.explainPR(fmt.Sprintf("comment on pull request #%d", old.number), err)
	}
	if _, _, err := g.client.PullRequests.Edit(ctx, g.owner, g.repo, old.number, &github.PullRequest{State: github.String("closed")}); err != nil {
		return g.explainPR(fmt.Sprintf("close pull request #%d", old.number), err)
	}
	return g.deleteBranch(ctx, old.head)
}

// mergePoll is how often mergeWhenReady asks again; tests shorten it.
var mergePoll = 5 * time.Second

// mergeWhenReady merges the pull request once the host lets it (its
// required checks passed, its reviews given), squashing it into one commit
// with the bump's message. It asks for a merge now, every mergePoll, and
// never has the host schedule one for later: a merge the host made on its
// own after the bump gave up (timed out, interrupted) would deploy with
// nobody verifying it. Gitea's scheduled merge also waits for a check
// event that, without required checks, never comes. Before each try the
// ordering guard applies to what the branch deploys now: if that is newer,
// the bump closes its pull request and stands down.
func (g *githubBackend) mergeWhenReady(ctx context.Context, opts Options, p proposal, res Result) (Result, error) {
	gitea, err := g.gitea(ctx)
	if err != nil {
		return res, err
	}
	timeout := opts.MergeTimeout
	if timeout <= 0 {
		timeout = DefaultMergeTimeout
	}
	deadline := time.Now().Add(timeout)
	title, body, _ := strings.Cut(p.message, "\n")
	left := fmt.Sprintf("pull request #%d (%s) stays open and unmerged, and nothing is scheduled to merge it", res.PR, res.PRURL)
	for {
		commit, err := g.sourceCommitAt(ctx, g.branch, opts.Container)
		if err != nil {
			return res, g.interrupted(err, left)
		}
		if newer, err := p.newer(ctx, commit); err != nil {
			return res, err
		} else if newer {
			if _, _, err := g.client.PullRequests.Edit(ctx, g.owner, g.repo, res.PR, &github.PullRequest{State: github.String("closed")}); err != nil {
				return res, g.interrupted(g.explainPR(fmt.Sprintf("close pull request #%d", res.PR), err), left)
			}
			res.Outcome, res.PreviousCommit = NewerDeployed, commit
			return res, nil
		}
		pr, _, err := g.client.PullRequests.Get(ctx, g.owner, g.repo, res.PR)
		if err != nil {
			return res, g.interrupted(g.explainPR(fmt.Sprintf("read pull request #%d", res.PR), err), left)
		}
		if pr.GetMerged() {
			res.Outcome, res.Commit = Merged, pr.GetMergeCommitSHA()
			return res, nil
		}
		var why string
		switch {
		case pr.GetState() != "open":
			return res, fmt.Errorf("pull request #%d (%s) was closed before it merged: nothing was deployed; run the bump again to propose it anew", res.PR, res.PRURL)
		case gitea && !pr.GetMergeable():
			// Gitea has no mergeable_state; its mergeable is false while it
			// tests the pull request for conflicts, and when it has some.
			why = "the host does not find it mergeable (conflicts, or its test for them is not done)"
		default:
			var merged string
			merged, why, err = g.merge(ctx, gitea, res.PR, pr.GetHead().GetSHA(), title, strings.TrimSpace(body))
			if err != nil {
				return res, g.interrupted(err, left)
			}
			if merged != "" {
				res.Outcome, res.Commit = Merged, merged
				return res, nil
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("pull request #%d (%s) is still not merged after %s (last answer: %s): it waits for the branch's required checks or reviews; it stays open and unmerged, and nothing is scheduled to merge it: merge it on the host and verify after (go tool mage verify), close it, or raise BUMP_MERGE_TIMEOUT",
				res.PR, res.PRURL, timeout, why)
		}
		opts.Logger.Info("waiting for the pull request to become mergeable", "pr", res.PR, "why", why)
		// The last wait ends at the deadline, for one more try then.
		if err := sleep(ctx, min(mergePoll, time.Until(deadline))); err != nil {
			return res, fmt.Errorf("interrupted while waiting for pull request #%d to merge (%w): %s; merge or close it on the host", res.PR, err, left)
		}
	}
}

// interrupted adds to an error of an interrupted request what the bump
// leaves behind.
func (g *githubBackend) interrupted(err error, left string) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %s; merge or close it on the host", err, left)
	}
	return err
}

// merge asks the host to merge the pull request at head, now. It returns
// the merge commit when merged, or why the host will not merge it yet
// (checks pending, reviews missing, the head moved), which is worth
// another try.
func (g *githubBackend) merge(ctx context.Context, gitea bool, number int, head, title, body string) (merged, notYet string, err error) {
	if gitea {
		req, err := g.client.NewRequest(http.MethodPost, fmt.Sprintf("repos/%s/%s/pulls/%d/merge", g.owner, g.repo, number), map[string]any{
			"Do": "squash", "MergeTitleField": title, "MergeMessageField": body, "head_commit_id": head,
			"delete_branch_after_merge": true,
		})
		if err != nil {
			return "", "", err
		}
		_, err = g.client.Do(ctx, req, nil)
		switch status := forge.Status(err); {
		case err == nil:
			pr, _, err := g.client.PullRequests.Get(ctx, g.owner, g.repo, number)
			if err != nil {
				return "", "", g.explainPR(fmt.Sprintf("read pull request #%d", number), err)
			}
			return pr.GetMergeCommitSHA(), "", nil
		case status == http.StatusMethodNotAllowed, status == http.StatusConflict:
			// 405: not ready (checks, reviews, Gitea still testing it); 409:
			// the head or the base moved under the merge.
			return "", fmt.Sprintf("%d %s", status, forge.Explain(err, g.who).Message), nil
		}
		return "", "", g.explainPR(fmt.Sprintf("merge pull request #%d", number), err)
	}
	res, _, err := g.client.PullRequests.Merge(ctx, g.owner, g.repo, number, body, &github.PullRequestOptions{
		CommitTitle: title, MergeMethod: "squash", SHA: head,
	})
	switch status := forge.Status(err); {
	case err == nil:
		return res.GetSHA(), "", nil
	case status == http.StatusMethodNotAllowed, status == http.StatusConflict:
		// Not mergeable yet (checks pending), or the head moved: try again.
		return "", fmt.Sprintf("%d %s", status, forge.Explain(err, g.who).Message), nil
	}
	return "", "", g.explainPR(fmt.Sprintf("merge pull request #%d", number), err)
}

// explainPR explains an error of a pull-request call.
func (g *githubBackend) explainPR(op string, err error) error {
	p := forge.Explain(err, g.who)
	if p.Status == http.StatusForbidden || p.Status == http.StatusNotFound {
		p.Fix = "BUMP_MODE=pr needs Pull requests: Read and write as well as Contents: Read and write on " + g.owner + "/" + g.repo + " (for a GitHub App, on the App and accepted on its installation; for a fine-grained token, on the token); " + p.Fix
	}
	return fmt.Errorf("%s in %s/%s: %w", op, g.owner, g.repo, p)
}
