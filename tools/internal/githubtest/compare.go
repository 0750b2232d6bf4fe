package githubtest

import (
	"net/http"
	"strings"
)

// The compare API and the commit graph it answers from.

func (s *Server) compareLocked(w http.ResponseWriter, r *repo, basehead string) {
	baseRef, headRef, ok := strings.Cut(basehead, "...")
	if !ok {
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	}
	base, head := r.resolve(baseRef), r.resolve(headRef)
	if base == nil || head == nil {
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	}
	fromBase, fromHead := r.ancestors(base.sha), r.ancestors(head.sha)
	var ahead []any
	behind := 0
	for sha := range fromHead {
		if !fromBase[sha] {
			ahead = append(ahead, map[string]any{"sha": sha, "html_url": s.htmlURL(r.name) + "/commit/" + sha})
		}
	}
	for sha := range fromBase {
		if !fromHead[sha] {
			behind++
		}
	}
	status := "diverged"
	switch {
	case base.sha == head.sha:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case len(ahead) == 0:
		status = "behind"
	}
	resp := map[string]any{
		"status":        status,
		"ahead_by":      len(ahead),
		"behind_by":     behind,
		"total_commits": len(ahead),
		"base_commit":   map[string]any{"sha": base.sha},
		"commits":       ahead,
		"html_url":      s.htmlURL(r.name) + "/compare/" + basehead,
	}
	if mb := r.mergeBase(head.sha, fromBase); mb != "" {
		resp["merge_base_commit"] = map[string]any{"sha": mb}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) htmlURL(name string) string { return s.srv.URL + "/" + name }

// resolve finds a commit by branch name, full sha or unique sha prefix.
func (r *repo) resolve(ref string) *commit {
	if sha, ok := r.branches[ref]; ok {
		return r.commits[sha]
	}
	if c, ok := r.commits[ref]; ok {
		return c
	}
	if len(ref) < 7 {
		return nil
	}
	var found *commit
	for sha, c := range r.commits {
		if strings.HasPrefix(sha, ref) {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// ancestors returns sha and every commit reachable from it.
func (r *repo) ancestors(sha string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{sha}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] || r.commits[s] == nil {
			continue
		}
		seen[s] = true
		stack = append(stack, r.commits[s].parents...)
	}
	return seen
}

// mergeBase returns the first commit reachable from head, breadth first,
// that is also in fromBase.
func (r *repo) mergeBase(head string, fromBase map[string]bool) string {
	queue, seen := []string{head}, map[string]bool{}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if seen[s] || r.commits[s] == nil {
			continue
		}
		seen[s] = true
		if fromBase[s] {
			return s
		}
		queue = append(queue, r.commits[s].parents...)
	}
	return ""
}
