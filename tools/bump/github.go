package bump

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/git"
)

// githubBackend edits the file through the Contents API: GET returns the
// content and its blob sha, PUT with that sha succeeds only if nobody wrote
// in between.
type githubBackend struct {
	client       *github.Client
	owner, repo  string
	path, branch string
	who          forge.Context
	author       git.Identity
	// isGitea caches whether the host is Gitea or Forgejo, once asked.
	isGitea *bool
}

func newGitHub(opts Options) (*githubBackend, error) {
	client, err := forge.NewClient(opts.APIURL, opts.Token, opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	owner, repo, _ := strings.Cut(opts.Repo, "/")
	return &githubBackend{
		client: client,
		owner:  owner, repo: repo,
		path: opts.Path, branch: opts.Branch,
		who:    forge.Context{Token: opts.Token, App: opts.App != nil, Repo: opts.Repo, API: client.BaseURL.String()},
		author: opts.Author,
	}, nil
}

func (g *githubBackend) close() {}

func (g *githubBackend) read(ctx context.Context) ([]byte, string, error) {
	return g.readAt(ctx, g.branch)
}

// readAt reads the manifest at ref (a branch or a commit) and its blob sha.
func (g *githubBackend) readAt(ctx context.Context, ref string) ([]byte, string, error) {
	file, dir, _, err := g.client.Repositories.GetContents(ctx, g.owner, g.repo, g.path, &github.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		return nil, "", g.explain(ctx, "read", err)
	}
	if file == nil {
		return nil, "", fmt.Errorf("read %s in %s/%s@%s: it is a directory (%d entries): set GITOPS_PATH to the manifest file", g.path, g.owner, g.repo, ref, len(dir))
	}
	content, err := file.GetContent()
	if err != nil {
		return nil, "", fmt.Errorf("decode %s from %s/%s@%s: %w", g.path, g.owner, g.repo, ref, err)
	}
	return []byte(content), file.GetSHA(), nil
}

func (g *githubBackend) write(ctx context.Context, content []byte, version, message string) (string, string, error) {
	return g.writeTo(ctx, g.branch, content, version, message)
}

// writeTo writes the manifest on branch if its blob is still version.
func (g *githubBackend) writeTo(ctx context.Context, branch string, content []byte, version, message string) (string, string, error) {
	opts := &github.RepositoryContentFileOptions{
		Message: github.String(message),
		Content: content,
		SHA:     github.String(version),
		Branch:  github.String(branch),
	}
	// Without an author the commit is the token's: an App's bot, whose
	// commits GitHub signs.
	if g.author.Name != "" {
		opts.Author = &github.CommitAuthor{Name: github.String(g.author.Name), Email: github.String(g.author.Email)}
	}
	resp, _, err := g.client.Repositories.UpdateFile(ctx, g.owner, g.repo, g.path, opts)
	if err != nil {
		return "", "", g.explainOn(ctx, "write", branch, err)
	}
	return resp.Commit.GetSHA(), resp.Commit.GetHTMLURL(), nil
}

// explain turns an API error into one that names the cause and the fix.
// A refused write is checked against the branch's protection, which hosts
// report with different statuses (GitHub 409 or 422, Gitea 403).
func (g *githubBackend) explain(ctx context.Context, op string, err error) error {
	return g.explainOn(ctx, op, g.branch, err)
}

// explainOn explains an error of op on branch.
func (g *githubBackend) explainOn(ctx context.Context, op, branch string, err error) error {
	where := fmt.Sprintf("%s/%s@%s:%s", g.owner, g.repo, branch, g.path)
	p := forge.Explain(err, g.who)
	switch {
	case p.RetryAfter > 0:
		return &waitError{after: p.RetryAfter, err: fmt.Errorf("%s %s: %s", op, where, p.Cause)}
	case p.Conflict:
		return fmt.Errorf("%s %s: %w (%d %s)", op, where, errConflict, p.Status, p.Message)
	case p.Status == http.StatusNotFound:
		return fmt.Errorf("%s %s: 404 Not Found: %s", op, where, forge.Diagnose(ctx, g.client, g.owner+"/"+g.repo, branch, g.path))
	case p.Refused && op == "write" && (p.SaysProtected() || g.protected(ctx, branch)):
		p = forge.ProtectedBranch(branch, p)
	}
	return fmt.Errorf("%s %s: %w", op, where, p)
}

// protected asks whether the branch is protected; an error counts as no.
func (g *githubBackend) protected(ctx context.Context, branch string) bool {
	b, _, err := g.client.Repositories.GetBranch(ctx, g.owner, g.repo, branch, 0)
	return err == nil && b.GetProtected()
}
