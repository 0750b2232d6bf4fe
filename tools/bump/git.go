package bump

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/git"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// gitBackend edits the file in a private clone and pushes; the remote's
// refusal of a non-fast-forward push is the compare-and-swap.
type gitBackend struct {
	remote  string  // as given to git
	display string  // without credentials, for messages
	cmd     git.Cmd // runs git in the clone
	path    string
	branch  string
	token   string
	cloned  bool
	webBase string // https://github.com/owner/name for commit URLs, or ""
}

func newGit(opts Options) (*gitBackend, error) {
	remote := opts.Repo
	if !strings.Contains(remote, "://") && !looksSCP(remote) {
		// A local path: make it absolute so that fetches from inside the
		// clone still find it.
		abs, err := filepath.Abs(strings.TrimPrefix(remote, "file://"))
		if err != nil {
			return nil, fmt.Errorf("resolve gitops repository path %s: %w", remote, err)
		}
		remote = abs
	}
	// The token travels as a Basic header: over plain http to another
	// machine anyone on the way could read it, so refuse as the API path does.
	if u, err := url.Parse(remote); err == nil && u.Scheme == "http" && opts.Token != "" && !loopback.Host(u.Host) {
		return nil, fmt.Errorf("gitops remote %s is plain http: refusing to send the token unencrypted; use an https:// URL in GITOPS_REPO", secret.URL(remote))
	}
	author := opts.Author
	if author.Name == "" {
		author = DefaultAuthor
	}
	dir, err := os.MkdirTemp("", "bump-gitops-*")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	return &gitBackend{
		remote:  remote,
		display: secret.URL(remote),
		cmd:     git.Cmd{Dir: dir, Isolated: true, Author: author, Env: authEnv(remote, opts.Token), Secret: opts.Token},
		path:    opts.Path,
		branch:  opts.Branch,
		token:   opts.Token,
		webBase: githubWebBase(remote),
	}, nil
}

// looksSCP reports the scp-like ssh syntax "user@host:path".
func looksSCP(remote string) bool {
	colon := strings.IndexByte(remote, ':')
	slash := strings.IndexByte(remote, '/')
	return colon > 0 && (slash < 0 || colon < slash) && !filepath.IsAbs(remote)
}

func githubWebBase(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.Scheme != "https" || u.Host != "github.com" {
		return ""
	}
	return "https://github.com/" + strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}

// authEnv sends the token to an HTTPS remote as a Basic authorization header
// set through the environment, so that it is never on a command line where
// other users or error messages could see it, and reaches the remote's host
// only: redirects are not followed.
func authEnv(remote, token string) []string {
	u, err := url.Parse(remote)
	if err != nil || token == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil
	}
	auth := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	return []string{
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_0=http." + u.Scheme + "://" + u.Host + "/.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: Basic " + auth,
		"GIT_CONFIG_KEY_1=http.followRedirects",
		"GIT_CONFIG_VALUE_1=false",
	}
}

func (g *gitBackend) close() { os.RemoveAll(g.cmd.Dir) }

// git runs a git command in the clone and returns its trimmed stdout.
func (g *gitBackend) git(ctx context.Context, args ...string) (string, error) {
	out, err := g.cmd.Run(ctx, args...)
	var gerr *git.Error
	if errors.As(err, &gerr) {
		gerr.Output = redact(gerr.Output, g.token)
	}
	return out, err
}

func (g *gitBackend) read(ctx context.Context) ([]byte, string, error) {
	if !g.cloned {
		if _, err := g.git(ctx, "clone", "--quiet", "--no-tags", "--single-branch", "--branch", g.branch, "--", g.remote, "."); err != nil {
			return nil, "", g.explain("clone", err)
		}
		g.cloned = true
	} else {
		if _, err := g.git(ctx, "fetch", "--quiet", "--no-tags", "origin", "+refs/heads/"+g.branch+":refs/remotes/origin/"+g.branch); err != nil {
			return nil, "", g.explain("fetch", err)
		}
		if _, err := g.git(ctx, "reset", "--quiet", "--hard", "refs/remotes/origin/"+g.branch); err != nil {
			return nil, "", g.explain("reset", err)
		}
	}
	content, err := g.readFile()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("read %s: not found on branch %s of %s: check GITOPS_PATH", g.path, g.branch, g.display)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s on branch %s of %s: %w", g.path, g.branch, g.display, err)
	}
	head, err := g.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return nil, "", g.explain("rev-parse", err)
	}
	return content, head, nil
}

// readFile reads the manifest in the clone. The clone is opened as a root,
// so that a symbolic link in the repository's content cannot lead the read
// (or writeFile) to a file outside it.
func (g *gitBackend) readFile() ([]byte, error) {
	root, err := os.OpenRoot(g.cmd.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(filepath.FromSlash(g.path))
}

// writeFile replaces the manifest in the clone, inside it only.
func (g *gitBackend) writeFile(content []byte) error {
	root, err := os.OpenRoot(g.cmd.Dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", g.path, err)
	}
	defer root.Close()
	name := filepath.FromSlash(g.path)
	info, err := root.Stat(name)
	if err != nil {
		return fmt.Errorf("write %s: %w", g.path, err)
	}
	if err := root.WriteFile(name, content, info.Mode().Perm()); err != nil {
		return fmt.Errorf("write %s: %w", g.path, err)
	}
	return nil
}

func (g *gitBackend) write(ctx context.Context, content []byte, _ string, message string) (string, string, error) {
	if err := g.writeFile(content); err != nil {
		return "", "", err
	}
	if _, err := g.git(ctx, "commit", "--quiet", "--no-verify", "-m", message, "--", g.path); err != nil {
		return "", "", g.explain("commit", err)
	}
	commit, err := g.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", "", g.explain("rev-parse", err)
	}
	out, err := g.git(ctx, "push", "--porcelain", "--quiet", "origin", "HEAD:refs/heads/"+g.branch)
	if err != nil {
		if rejected(out + err.Error()) {
			return "", "", fmt.Errorf("push to %s %s: %w", g.display, g.branch, errConflict)
		}
		return "", "", g.explain("push", err)
	}
	url := ""
	if g.webBase != "" {
		url = g.webBase + "/commit/" + commit
	}
	return commit, url, nil
}

// propose pushes the change to a branch of its own. Plain git cannot open
// a pull request: the host does that (the result says which branch).
func (g *gitBackend) propose(ctx context.Context, opts Options, p proposal) (Result, error) {
	if err := g.writeFile(p.content); err != nil {
		return Result{}, err
	}
	if _, err := g.git(ctx, "commit", "--quiet", "--no-verify", "-m", p.message, "--", g.path); err != nil {
		return Result{}, g.explain("commit", err)
	}
	if _, err := g.git(ctx, "push", "--porcelain", "--quiet", "--force", "origin", "HEAD:refs/heads/"+p.branch); err != nil {
		return Result{}, g.explain("push", err)
	}
	// The next read starts again from the branch the bump is for.
	if _, err := g.git(ctx, "reset", "--quiet", "--hard", "refs/remotes/origin/"+g.branch); err != nil {
		return Result{}, g.explain("reset", err)
	}
	return Result{Outcome: Proposed, Branch: p.branch}, nil
}

// rejected recognises a push that lost a race: a non-fast-forward refusal,
// or the remote failing to take the ref lock another push holds.
func rejected(output string) bool {
	for _, s := range []string{"[rejected]", "non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref", "incorrect old value"} {
		if strings.Contains(output, s) {
			return true
		}
	}
	return false
}

// explain turns a git failure into one that names the cause and the fix.
func (g *gitBackend) explain(op string, err error) error {
	var ge *git.Error
	if !errors.As(err, &ge) {
		return fmt.Errorf("git %s %s: %w", op, g.display, err)
	}
	out := ge.Output
	switch {
	case strings.Contains(out, "protected branch"), strings.Contains(out, "GH006"), strings.Contains(out, "pre-receive hook declined"):
		return fmt.Errorf("git %s %s: branch %s is protected against direct pushes (%s): set BUMP_MODE=pr to push a branch for a pull request instead", op, g.display, g.branch, firstLine(out))
	case strings.Contains(out, "Remote branch") && strings.Contains(out, "not found"),
		strings.Contains(out, "couldn't find remote ref"):
		return fmt.Errorf("git %s %s: branch %q not found: check GITOPS_BRANCH (%s)", op, g.display, g.branch, firstLine(out))
	case strings.Contains(out, "Authentication failed"), strings.Contains(out, "could not read Username"),
		strings.Contains(out, "terminal prompts disabled"), httpRefusal.MatchString(out):
		return fmt.Errorf("git %s %s: authentication failed with %s: set GITOPS_TOKEN to a token with write access to the repository (%s)", op, g.display, forge.Describe(g.token), firstLine(out))
	case strings.Contains(out, "not found"), strings.Contains(out, "does not exist"),
		strings.Contains(out, "does not appear to be a git repository"):
		return fmt.Errorf("git %s %s: repository not found or not accessible: check GITOPS_REPO (%s)", op, g.display, firstLine(out))
	}
	return fmt.Errorf("git %s %s: %w", op, g.display, err)
}

// httpRefusal is git's report of an HTTP 401 or 403 ("The requested URL
// returned error: 403"): the code read where git writes it, not wherever
// the digits occur (a temporary directory's name holds them too).
var httpRefusal = regexp.MustCompile(`returned error: 40[13]\b|\bHTTP 40[13]\b`)

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
