package bump

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// Revision is one commit of the gitops repository that changed the
// manifest, and what the manifest deployed after it.
type Revision struct {
	// Commit is the gitops commit, URL its page when the host has one.
	Commit, URL string
	// Time is when it was committed, Subject the first line of its message.
	Time    time.Time
	Subject string
	// Image and SourceCommit are what the manifest deployed after it, and
	// Annotations the workload's own (the soak's verdicts).
	Image, SourceCommit string
	Annotations         map[string]string
	// Problem says why the manifest could not be read at this commit (not
	// YAML, empty, no such container); Image and SourceCommit are empty
	// then. The manifest's errors say where (line), and wrap those of
	// package manifest.
	Problem error
}

// History returns the last limit revisions of the manifest on the branch,
// newest first: the Contents backends list the file's commits, the git
// backend reads its log. A rollback picks the image to go back to from it,
// and status the age of the current one.
func History(ctx context.Context, opts Options, limit int) ([]Revision, error) {
	opts = opts.withDefaults()
	if opts.Repo == "" {
		return nil, fmt.Errorf("history: no gitops repository: set GITOPS_REPO")
	}
	if err := CheckPath(opts.Path); err != nil {
		return nil, fmt.Errorf("history: path %q %w", opts.Path, err)
	}
	if limit <= 0 {
		limit = 20
	}
	b, opts, err := open(ctx, opts, forge.Permissions{Contents: "read"})
	if err != nil {
		return nil, err
	}
	defer b.close()
	revs, err := b.history(ctx, opts.Container, limit)
	return revs, redactErr(err, opts.Token)
}

// history lists the commits that changed the manifest.
func (g *githubBackend) history(ctx context.Context, container string, limit int) ([]Revision, error) {
	commits, _, err := g.client.Repositories.ListCommits(ctx, g.owner, g.repo, &github.CommitsListOptions{
		SHA: g.branch, Path: g.path, ListOptions: github.ListOptions{PerPage: limit},
	})
	if forge.Status(err) == http.StatusNotFound {
		// Gitea answers 404 when no commit touched the path; so do
		// repositories and branches that do not exist, which read tells apart.
		if _, _, rerr := g.read(ctx); rerr != nil {
			return nil, rerr
		}
		return nil, nil
	}
	if err != nil {
		return nil, g.explain(ctx, "list the commits of", err)
	}
	var out []Revision
	for _, c := range commits {
		if len(out) == limit {
			break
		}
		r := Revision{Commit: c.GetSHA(), URL: c.GetHTMLURL(), Time: c.GetCommit().GetCommitter().GetDate().Time}
		r.Subject, _, _ = strings.Cut(c.GetCommit().GetMessage(), "\n")
		content, _, err := g.readAt(ctx, r.Commit)
		if err != nil {
			return nil, err
		}
		r.read(content, container)
		out = append(out, r)
	}
	return out, nil
}

// history reads the log of the manifest in the clone.
func (g *gitBackend) history(ctx context.Context, container string, limit int) ([]Revision, error) {
	if _, _, err := g.read(ctx); err != nil {
		return nil, err
	}
	out, err := g.git(ctx, "log", "-n", strconv.Itoa(limit), "--format=%H%x1f%ct%x1f%s", "HEAD", "--", g.path)
	if err != nil {
		return nil, g.explain("log", err)
	}
	var revs []Revision
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\x1f")
		if len(f) != 3 {
			continue
		}
		secs, _ := strconv.ParseInt(f[1], 10, 64)
		r := Revision{Commit: f[0], Time: time.Unix(secs, 0).UTC(), Subject: f[2]}
		if g.webBase != "" {
			r.URL = g.webBase + "/commit/" + r.Commit
		}
		content, err := g.cmd.Output(ctx, "show", r.Commit+":"+g.path)
		if err != nil {
			return nil, g.explain("show", err)
		}
		r.read(content, container)
		revs = append(revs, r)
	}
	return revs, nil
}

// read fills the revision from the manifest's content at its commit.
func (r *Revision) read(content []byte, container string) {
	cur, err := manifest.Read(content, container)
	if err != nil {
		r.Problem = err
		return
	}
	r.Image, r.SourceCommit, r.Annotations = cur.Image, strings.ToLower(cur.SourceCommit), cur.Annotations
}
