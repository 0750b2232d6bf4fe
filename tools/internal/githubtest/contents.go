package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// The Contents API: GET and PUT /repos/{owner}/{repo}/contents/{path}.

func (s *Server) getContentsLocked(w http.ResponseWriter, req *http.Request, r *repo, p string) {
	ref := req.URL.Query().Get("ref")
	if ref == "" {
		ref = r.defaultBranch
	}
	c := r.resolve(ref)
	if c == nil {
		writeJSON(w, http.StatusNotFound, message("No commit found for the ref "+ref))
		return
	}
	if blob, ok := c.tree[p]; ok {
		writeJSON(w, http.StatusOK, s.fileJSON(r, ref, p, blob, true))
		return
	}
	var entries []any
	prefix := strings.TrimSuffix(p, "/") + "/"
	if p == "" {
		prefix = ""
	}
	seen := map[string]bool{}
	paths := make([]string, 0, len(c.tree))
	for fp := range c.tree {
		paths = append(paths, fp)
	}
	sort.Strings(paths)
	for _, fp := range paths {
		rest, ok := strings.CutPrefix(fp, prefix)
		if !ok {
			continue
		}
		if dir, _, nested := strings.Cut(rest, "/"); nested {
			if !seen[dir] {
				seen[dir] = true
				entries = append(entries, map[string]any{"type": "dir", "name": dir, "path": prefix + dir})
			}
			continue
		}
		entries = append(entries, s.fileJSON(r, ref, fp, c.tree[fp], false))
	}
	if len(entries) == 0 {
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	}
	writeJSON(w, http.StatusOK, entries)
}

func (s *Server) fileJSON(r *repo, ref, p, blob string, withContent bool) map[string]any {
	content := r.blobs[blob]
	m := map[string]any{
		"type":         "file",
		"name":         path.Base(p),
		"path":         p,
		"sha":          blob,
		"size":         len(content),
		"url":          s.URL + "repos/" + r.name + "/contents/" + p + "?ref=" + ref,
		"git_url":      s.URL + "repos/" + r.name + "/git/blobs/" + blob,
		"html_url":     s.htmlURL(r.name) + "/blob/" + ref + "/" + p,
		"download_url": s.srv.URL + "/raw/" + r.name + "/" + ref + "/" + p,
	}
	if withContent {
		// GitHub wraps the base64 text at 60 characters; clients must cope.
		enc := base64.StdEncoding.EncodeToString(content)
		var sb strings.Builder
		for len(enc) > 60 {
			sb.WriteString(enc[:60] + "\n")
			enc = enc[60:]
		}
		sb.WriteString(enc + "\n")
		m["encoding"] = "base64"
		m["content"] = sb.String()
	}
	return m
}

type putRequest struct {
	Message string `json:"message"`
	Content string `json:"content"`
	SHA     string `json:"sha"`
	Branch  string `json:"branch"`
	Author  *struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"author"`
}

func (s *Server) putContentsLocked(w http.ResponseWriter, req *http.Request, r *repo, tok Token, p string) {
	var body putRequest
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return
	}
	if body.Message == "" {
		writeJSON(w, http.StatusUnprocessableEntity, message("Invalid request.\n\n\"message\" wasn't supplied."))
		return
	}
	content, err := base64.StdEncoding.DecodeString(body.Content)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, message("content is not valid Base64"))
		return
	}
	branch := body.Branch
	if branch == "" {
		branch = r.defaultBranch
	}
	head, ok := r.branches[branch]
	if !ok {
		writeJSON(w, http.StatusNotFound, message("Branch "+branch+" not found"))
		return
	}
	if s.refuseProtectedLocked(w, r, tok, branch) {
		return
	}
	current, exists := r.commits[head].tree[p]
	switch {
	case exists && body.SHA == "":
		writeJSON(w, http.StatusUnprocessableEntity, message("Invalid request.\n\n\"sha\" wasn't supplied."))
		return
	case exists && body.SHA != current, !exists && body.SHA != "":
		if s.staleStatus == http.StatusUnprocessableEntity {
			s.giteaError(w, http.StatusUnprocessableEntity, fmt.Sprintf("sha does not match [given: %s, expected: %s]", body.SHA, current))
			return
		}
		writeJSON(w, http.StatusConflict, map[string]string{
			"message":           fmt.Sprintf("%s does not match %s", p, body.SHA),
			"documentation_url": "https://docs.github.com/rest/repos/contents#create-or-update-file-contents",
		})
		return
	}
	if s.refLock > 0 && !s.takeRefLocked(w, r, branch, head) {
		return
	}
	author := tok.Login
	if body.Author != nil && body.Author.Name != "" {
		author = body.Author.Name
	}
	// Like GitHub, an identical write still makes a (empty) commit: avoiding
	// it is the client's job.
	sha := s.commitLocked(r, branch, body.Message, author, map[string]string{p: string(content)})
	c := r.commits[sha]
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	parents := make([]any, len(c.parents))
	for i, ps := range c.parents {
		parents[i] = map[string]any{"sha": ps, "html_url": s.htmlURL(r.name) + "/commit/" + ps}
	}
	writeJSON(w, status, map[string]any{
		"content": s.fileJSON(r, branch, p, c.tree[p], false),
		"commit": map[string]any{
			"sha":      sha,
			"url":      s.URL + "repos/" + r.name + "/git/commits/" + sha,
			"html_url": s.htmlURL(r.name) + "/commit/" + sha,
			"message":  c.message,
			"author":   map[string]any{"name": author, "date": c.date.Format(time.RFC3339)},
			"tree":     map[string]any{"sha": treeSHA(c.tree)},
			"parents":  parents,
		},
	})
}

// takeRefLocked stands for the time a host spends committing before it
// moves the branch ref from head: it lets other requests run for s.refLock,
// then reports whether the ref is still at head, answering the lost race as
// the host does when it is not.
func (s *Server) takeRefLocked(w http.ResponseWriter, r *repo, branch, head string) bool {
	s.mu.Unlock()
	time.Sleep(s.refLock)
	s.mu.Lock()
	cur := r.branches[branch]
	switch {
	case cur == head:
		return true
	case s.gitea:
		s.giteaError(w, http.StatusForbidden, fmt.Sprintf("cannot lock ref 'refs/heads/%s': is at %s but expected %s", branch, cur, head))
	default:
		writeJSON(w, http.StatusConflict, map[string]string{
			"message":           fmt.Sprintf("is at %s but expected %s", cur, head),
			"documentation_url": "https://docs.github.com/rest/repos/contents#create-or-update-file-contents",
		})
	}
	return false
}
