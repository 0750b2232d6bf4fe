package githubtest

import (
	"net/http"
	"sort"
	"strings"
	"time"
)

// The commits API: GET /repos/{o}/{r}/commits (optionally by path) and
// GET /repos/{o}/{r}/commits/{ref}.

// listCommitsLocked walks first parents from sha (a branch or commit; the
// default branch without it), newest first, keeping the commits that
// changed path (a file, or a directory's files) when path is given.
func (s *Server) listCommitsLocked(w http.ResponseWriter, req *http.Request, r *repo) {
	q := req.URL.Query()
	ref, p := q.Get("sha"), strings.Trim(q.Get("path"), "/")
	if ref == "" {
		ref = r.defaultBranch
	}
	c := r.resolve(ref)
	if c == nil {
		writeJSON(w, http.StatusNotFound, message("No commit found for SHA: "+ref))
		return
	}
	var out []any
	for seen := map[string]bool{}; c != nil && !seen[c.sha]; {
		seen[c.sha] = true
		var parent *commit
		if len(c.parents) > 0 {
			parent = r.commits[c.parents[0]]
		}
		if p == "" || len(changes(parent, c, p)) > 0 {
			out = append(out, s.commitJSON(r, c, false))
		}
		c = parent
	}
	if s.gitea && p != "" && len(out) == 0 {
		// Gitea answers 404, not [], when no commit touched the path,
		// with the name of the function that failed.
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": nil, "message": "FileCommitsCount", "url": s.srv.URL + "/api/swagger"})
		return
	}
	lo, hi := s.paginate(w, req, len(out))
	writeJSON(w, http.StatusOK, append([]any{}, out[lo:hi]...))
}

func (s *Server) getCommitLocked(w http.ResponseWriter, r *repo, ref string) {
	c := r.resolve(ref)
	switch {
	case c == nil && s.gitea:
		writeJSON(w, http.StatusNotFound, message("Not Found"))
	case c == nil:
		writeJSON(w, http.StatusUnprocessableEntity, message("No commit found for SHA: "+ref))
	default:
		writeJSON(w, http.StatusOK, s.commitJSON(r, c, true))
	}
}

// changes returns the paths under p (all paths when p is "") whose blob
// differs between parent (nil for a root commit) and c, with their status.
func changes(parent, c *commit, p string) map[string]string {
	under := func(fp string) bool { return p == "" || fp == p || strings.HasPrefix(fp, p+"/") }
	var old map[string]string
	if parent != nil {
		old = parent.tree
	}
	out := map[string]string{}
	for fp, b := range c.tree {
		if !under(fp) {
			continue
		}
		if ob, ok := old[fp]; !ok {
			out[fp] = "added"
		} else if ob != b {
			out[fp] = "modified"
		}
	}
	for fp := range old {
		if _, ok := c.tree[fp]; !ok && under(fp) {
			out[fp] = "removed"
		}
	}
	return out
}

func (s *Server) commitJSON(r *repo, c *commit, withFiles bool) map[string]any {
	parents := make([]any, len(c.parents))
	for i, ps := range c.parents {
		parents[i] = map[string]any{"sha": ps, "url": s.URL + "repos/" + r.name + "/commits/" + ps, "html_url": s.htmlURL(r.name) + "/commit/" + ps}
	}
	sig := map[string]any{"name": c.author, "email": c.author + "@users.noreply.github.com", "date": c.date.Format(time.RFC3339)}
	m := map[string]any{
		"sha":      c.sha,
		"url":      s.URL + "repos/" + r.name + "/commits/" + c.sha,
		"html_url": s.htmlURL(r.name) + "/commit/" + c.sha,
		"commit": map[string]any{
			"message":   c.message,
			"author":    sig,
			"committer": sig,
			"tree":      map[string]any{"sha": treeSHA(c.tree)},
			"url":       s.URL + "repos/" + r.name + "/git/commits/" + c.sha,
		},
		"author":    map[string]any{"login": c.author},
		"committer": map[string]any{"login": c.author},
		"parents":   parents,
	}
	if s.gitea {
		m["created"] = c.date.Format(time.RFC3339)
	}
	if withFiles {
		var parent *commit
		if len(c.parents) > 0 {
			parent = r.commits[c.parents[0]]
		}
		changed := changes(parent, c, "")
		paths := make([]string, 0, len(changed))
		for fp := range changed {
			paths = append(paths, fp)
		}
		sort.Strings(paths)
		files := make([]any, 0, len(paths))
		for _, fp := range paths {
			f := map[string]any{"filename": fp, "status": changed[fp]}
			if b, ok := c.tree[fp]; ok {
				f["sha"] = b
			}
			files = append(files, f)
		}
		m["files"] = files
	}
	return m
}
