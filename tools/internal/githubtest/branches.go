package githubtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Branch protection, git refs (GitHub) and branch creation and deletion
// (Gitea), and the routing of the repository endpoints added with them.

const notByIntegration = "Resource not accessible by integration"

// Protect marks branch of repository fullName protected: Contents API
// writes to it are refused as they are when a pull request is required,
// while merges of pull requests into it still work.
func (s *Server) Protect(fullName, branch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepoLocked(fullName)
	if r.protected == nil {
		r.protected = map[string]bool{}
	}
	r.protected[branch] = true
}

func (s *Server) mustRepoLocked(fullName string) *repo {
	r := s.repos[fullName]
	if r == nil {
		panic("githubtest: no repository " + fullName)
	}
	return r
}

// serveRepoMoreLocked routes the repository endpoints for refs, branches,
// pull requests, comments, commits and the App installation.
func (s *Server) serveRepoMoreLocked(w http.ResponseWriter, req *http.Request, tok Token, r *repo, rest []string) {
	m := req.Method
	at := func(i int, v string) bool { return len(rest) > i && rest[i] == v }
	switch {
	case len(rest) == 1 && at(0, "installation"):
		writeJSON(w, http.StatusUnauthorized, message(jwtUndecodable))

	case !s.gitea && len(rest) >= 4 && at(0, "git") && at(1, "ref") && at(2, "heads") && m == http.MethodGet:
		s.getRefLocked(w, r, strings.Join(rest[3:], "/"))
	case s.gitea && len(rest) >= 2 && at(0, "git") && at(1, "refs") && m == http.MethodGet:
		s.giteaRefsLocked(w, r, strings.Join(rest[2:], "/"))
	case s.gitea && len(rest) >= 2 && at(0, "git") && at(1, "refs"):
		// Gitea's git refs API is read-only, and says so with no body.
		w.WriteHeader(http.StatusMethodNotAllowed)
	case len(rest) == 2 && at(0, "git") && at(1, "refs") && m == http.MethodPost:
		if allowed(w, tok, "contents", "write") {
			s.createRefLocked(w, req, r)
		}
	case len(rest) >= 4 && at(0, "git") && at(1, "refs") && at(2, "heads") && (m == http.MethodPatch || m == http.MethodDelete):
		if allowed(w, tok, "contents", "write") {
			s.updateRefLocked(w, req, r, strings.Join(rest[3:], "/"))
		}

	case s.gitea && len(rest) == 1 && at(0, "branches") && m == http.MethodPost:
		if allowed(w, tok, "contents", "write") {
			s.createBranchLocked(w, req, r, tok)
		}
	case s.gitea && len(rest) >= 2 && at(0, "branches") && m == http.MethodDelete:
		if allowed(w, tok, "contents", "write") {
			s.deleteBranchLocked(w, r, strings.Join(rest[1:], "/"))
		}

	case len(rest) == 1 && at(0, "pulls") && m == http.MethodGet:
		if allowed(w, tok, "pull_requests", "read") {
			s.listPullsLocked(w, req, r)
		}
	case len(rest) == 1 && at(0, "pulls") && m == http.MethodPost:
		if allowed(w, tok, "pull_requests", "write") {
			s.createPullLocked(w, req, r, tok)
		}
	case len(rest) == 2 && at(0, "pulls") && (m == http.MethodGet || m == http.MethodPatch):
		p := r.pull(rest[1])
		switch {
		case p == nil:
			writeJSON(w, http.StatusNotFound, message("Not Found"))
		case m == http.MethodGet && allowed(w, tok, "pull_requests", "read"):
			writeJSON(w, http.StatusOK, s.pullJSON(r, p))
		case m == http.MethodPatch && allowed(w, tok, "pull_requests", "write"):
			s.editPullLocked(w, req, r, p)
		}
	case s.gitea && len(rest) == 3 && at(0, "pulls") && at(2, "merge") && m == http.MethodDelete:
		p := r.pull(rest[1])
		switch {
		case p == nil:
			s.giteaNotFound(w)
		case allowed(w, tok, "pull_requests", "write"):
			s.cancelAutoMergeLocked(w, p)
		}
	case len(rest) == 3 && at(0, "pulls") && at(2, "merge") && (m == http.MethodPut || m == http.MethodPost):
		p := r.pull(rest[1])
		switch {
		case s.gitea != (m == http.MethodPost):
			// GitHub merges with PUT, Gitea with POST; Gitea answers PUT
			// with no body.
			if s.gitea {
				w.WriteHeader(http.StatusMethodNotAllowed)
			} else {
				writeJSON(w, http.StatusNotFound, message("Not Found"))
			}
		case p == nil:
			writeJSON(w, http.StatusNotFound, message("Not Found"))
		case !allowed(w, tok, "pull_requests", "write") || !allowed(w, tok, "contents", "write"):
		case s.gitea:
			s.giteaMergeLocked(w, req, r, tok, p)
		default:
			s.mergePullLocked(w, req, r, tok, p)
		}
	case len(rest) == 2 && at(0, "statuses") && m == http.MethodPost:
		if allowed(w, tok, "statuses", "write") {
			s.createStatusLocked(w, req, r, rest[1])
		}
	case s.gitea && len(rest) == 1 && at(0, "branch_protections") && m == http.MethodPost:
		s.protectLocked(w, req, r, tok)
	case s.gitea && len(rest) == 2 && at(0, "branch_protections") && m == http.MethodDelete:
		s.unprotectLocked(w, r, tok, rest[1])
	case len(rest) == 3 && at(0, "issues") && at(2, "comments") && m == http.MethodPost:
		if allowed(w, tok, "pull_requests", "write") {
			s.commentLocked(w, req, r, tok, rest[1])
		}

	case len(rest) == 1 && at(0, "commits") && m == http.MethodGet:
		if allowed(w, tok, "contents", "read") {
			s.listCommitsLocked(w, req, r)
		}
	case len(rest) >= 2 && at(0, "commits") && m == http.MethodGet:
		if allowed(w, tok, "contents", "read") {
			s.getCommitLocked(w, r, strings.Join(rest[1:], "/"))
		}
	default:
		writeJSON(w, http.StatusNotFound, message("Not Found"))
	}
}

// allowed reports whether tok may read or write (level) what perm covers,
// and answers 403 as GitHub does when it may not. User tokens read
// everything they see and write unless ReadOnly; App installation tokens
// need the permission.
func allowed(w http.ResponseWriter, tok Token, perm, level string) bool {
	if tok.perms != nil {
		got := tok.perms[perm]
		if got == "write" || got == "admin" || got == level {
			return true
		}
		writeJSON(w, http.StatusForbidden, map[string]string{"message": notByIntegration, "documentation_url": docURL(perm)})
		return false
	}
	if level == "read" || !tok.ReadOnly {
		return true
	}
	// Fine-grained tokens lack a permission; classic tokens belong to a
	// user without push access.
	msg := "Resource not accessible by personal access token"
	if tok.Scopes != nil {
		msg = "Must have push access to repository"
	}
	writeJSON(w, http.StatusForbidden, map[string]string{"message": msg, "documentation_url": docURL(perm)})
	return false
}

func docURL(perm string) string {
	switch perm {
	case "contents":
		return "https://docs.github.com/rest/repos/contents#create-or-update-file-contents"
	case "pull_requests":
		return "https://docs.github.com/rest/pulls/pulls"
	}
	return "https://docs.github.com/rest"
}

// refuseProtectedLocked answers a Contents API write to a protected branch
// as GitHub (409) or Gitea (403) does, and reports whether it did.
func (s *Server) refuseProtectedLocked(w http.ResponseWriter, r *repo, tok Token, branch string) bool {
	if !r.protected[branch] {
		return false
	}
	if s.gitea {
		s.giteaError(w, http.StatusForbidden, fmt.Sprintf("user cannot commit to repo [user: %s]", tok.Login))
		return true
	}
	writeJSON(w, http.StatusConflict, map[string]string{
		"message":           "Could not update file: Changes must be made through a pull request.",
		"documentation_url": "https://docs.github.com/articles/about-protected-branches",
	})
	return true
}

// branchJSON is GET /repos/{o}/{r}/branches/{b}. Gitea names the commit's
// sha "id", as its PayloadCommit does.
func (s *Server) branchJSON(r *repo, tok Token, name string) map[string]any {
	sha := r.branches[name]
	if s.gitea {
		c := r.commits[sha]
		canPush := !tok.ReadOnly && !r.protected[name]
		return map[string]any{
			"name": name,
			"commit": map[string]any{
				"id":        sha,
				"message":   c.message,
				"url":       s.htmlURL(r.name) + "/commit/" + sha,
				"author":    map[string]any{"name": c.author, "username": c.author},
				"timestamp": c.date.Format(time.RFC3339),
			},
			"protected":           r.protected[name],
			"user_can_push":       canPush,
			"user_can_merge":      !tok.ReadOnly,
			"enable_status_check": r.required[name] || len(r.contexts[name]) > 0,
		}
	}
	return map[string]any{
		"name": name,
		"commit": map[string]any{
			"sha":      sha,
			"url":      s.URL + "repos/" + r.name + "/commits/" + sha,
			"html_url": s.htmlURL(r.name) + "/commit/" + sha,
		},
		"protected": r.protected[name],
	}
}

func (s *Server) refJSON(r *repo, branch string) map[string]any {
	sha := r.branches[branch]
	return map[string]any{
		"ref": "refs/heads/" + branch,
		"url": s.URL + "repos/" + r.name + "/git/refs/heads/" + branch,
		"object": map[string]any{
			"sha":  sha,
			"type": "commit",
			"url":  s.URL + "repos/" + r.name + "/git/commits/" + sha,
		},
	}
}

func (s *Server) getRefLocked(w http.ResponseWriter, r *repo, branch string) {
	if _, ok := r.branches[branch]; !ok {
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	}
	writeJSON(w, http.StatusOK, s.refJSON(r, branch))
}

// giteaRefsLocked is Gitea's GET /repos/{o}/{r}/git/refs/{ref}: the refs
// starting with ref, as an array.
func (s *Server) giteaRefsLocked(w http.ResponseWriter, r *repo, prefix string) {
	var out []any
	for _, b := range slices.Sorted(maps.Keys(r.branches)) {
		if strings.HasPrefix("heads/"+b, prefix) {
			out = append(out, s.refJSON(r, b))
		}
	}
	if len(out) == 0 {
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createRefLocked(w http.ResponseWriter, req *http.Request, r *repo) {
	var body struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return
	}
	branch, ok := strings.CutPrefix(body.Ref, "refs/heads/")
	switch {
	case !strings.HasPrefix(body.Ref, "refs/") || strings.Count(body.Ref, "/") < 2:
		writeJSON(w, http.StatusUnprocessableEntity, message("Reference name is invalid"))
	case !ok || branch == "":
		writeJSON(w, http.StatusUnprocessableEntity, message("githubtest: only refs/heads/ references are modeled"))
	case r.commits[body.SHA] == nil:
		writeJSON(w, http.StatusUnprocessableEntity, message("Object does not exist"))
	case r.branches[branch] != "":
		writeJSON(w, http.StatusUnprocessableEntity, message("Reference already exists"))
	default:
		r.branches[branch] = body.SHA
		writeJSON(w, http.StatusCreated, s.refJSON(r, branch))
	}
}

// updateRefLocked is PATCH (UpdateRef) and DELETE (DeleteRef) of
// refs/heads/{branch}.
func (s *Server) updateRefLocked(w http.ResponseWriter, req *http.Request, r *repo, branch string) {
	old, ok := r.branches[branch]
	if !ok {
		writeJSON(w, http.StatusUnprocessableEntity, message("Reference does not exist"))
		return
	}
	if req.Method == http.MethodDelete {
		if r.protected[branch] {
			writeJSON(w, http.StatusUnprocessableEntity, message("Cannot delete this protected branch"))
			return
		}
		s.dropBranchLocked(r, branch)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var body struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return
	}
	switch {
	case r.commits[body.SHA] == nil:
		writeJSON(w, http.StatusUnprocessableEntity, message("Object does not exist"))
	case r.protected[branch]:
		writeJSON(w, http.StatusUnprocessableEntity, message("Protected branch update failed for refs/heads/"+branch+"."))
	case !body.Force && !r.ancestors(body.SHA)[old]:
		writeJSON(w, http.StatusUnprocessableEntity, message("Update is not a fast forward"))
	default:
		r.branches[branch] = body.SHA
		writeJSON(w, http.StatusOK, s.refJSON(r, branch))
	}
}

// dropBranchLocked deletes a branch and, as GitHub and Gitea do, closes the
// open pull requests whose head it was.
func (s *Server) dropBranchLocked(r *repo, branch string) {
	for _, p := range r.pulls {
		if p.head == branch && p.state == "open" {
			p.headSHA = r.branches[branch]
			p.close()
		}
	}
	delete(r.branches, branch)
}

// createBranchLocked is Gitea's POST /repos/{o}/{r}/branches.
func (s *Server) createBranchLocked(w http.ResponseWriter, req *http.Request, r *repo, tok Token) {
	var body struct {
		New       string `json:"new_branch_name"`
		OldBranch string `json:"old_branch_name"`
		OldRef    string `json:"old_ref_name"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return
	}
	var from string
	switch {
	case body.New == "":
		s.giteaError(w, http.StatusUnprocessableEntity, "[BranchName]: Required")
		return
	case r.branches[body.New] != "":
		s.giteaError(w, http.StatusConflict, "The branch already exists.")
		return
	case body.OldRef != "":
		c := r.resolve(body.OldRef)
		if c == nil {
			writeJSON(w, http.StatusNotFound, message("The old ref does not exist"))
			return
		}
		from = c.sha
	case body.OldBranch != "":
		sha, ok := r.branches[body.OldBranch]
		if !ok {
			writeJSON(w, http.StatusNotFound, message("The old branch does not exist"))
			return
		}
		from = sha
	default:
		from = r.branches[r.defaultBranch]
	}
	r.branches[body.New] = from
	writeJSON(w, http.StatusCreated, s.branchJSON(r, tok, body.New))
}

// deleteBranchLocked is Gitea's DELETE /repos/{o}/{r}/branches/{branch}.
func (s *Server) deleteBranchLocked(w http.ResponseWriter, r *repo, branch string) {
	switch {
	case r.branches[branch] == "":
		s.giteaNotFound(w, fmt.Sprintf("branch does not exist [name: %s]", branch))
	case branch == r.defaultBranch:
		s.giteaError(w, http.StatusForbidden, "can not delete default or pull request target branch")
	case r.protected[branch]:
		s.giteaError(w, http.StatusForbidden, "branch protected")
	default:
		s.dropBranchLocked(r, branch)
		w.WriteHeader(http.StatusNoContent)
	}
}

// paginate cuts n items to the page the request asks for (page, and
// per_page, or limit on Gitea) and sets the Link header go-github reads
// NextPage from. It returns the bounds of the page.
func (s *Server) paginate(w http.ResponseWriter, req *http.Request, n int) (lo, hi int) {
	q := req.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if s.gitea && q.Get("limit") != "" {
		per, _ = strconv.Atoi(q.Get("limit"))
	}
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	last := max((n+per-1)/per, 1)
	var links []string
	link := func(p int, rel string) {
		q.Set("page", strconv.Itoa(p))
		u := url.URL{Scheme: "http", Host: req.Host, Path: req.URL.Path, RawQuery: q.Encode()}
		links = append(links, fmt.Sprintf("<%s>; rel=%q", u.String(), rel))
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
		link(page-1, "prev")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	if s.gitea {
		w.Header().Set("X-Total-Count", strconv.Itoa(n))
	}
	lo = min((page-1)*per, n)
	return lo, min(lo+per, n)
}

func owner(fullName string) string { return path.Dir(fullName) }

// protection is a branch protection as Gitea's API sets it.
type protection struct {
	RuleName            string   `json:"rule_name"`
	BranchName          string   `json:"branch_name"`
	EnablePush          bool     `json:"enable_push"`
	EnableStatusCheck   bool     `json:"enable_status_check"`
	StatusCheckContexts []string `json:"status_check_contexts"`
	RequiredApprovals   int      `json:"required_approvals"`
}

// protectLocked is Gitea's POST /repos/{o}/{r}/branch_protections, for a
// rule that names one branch. Only repository administrators may; here,
// any token but a read-only one.
func (s *Server) protectLocked(w http.ResponseWriter, req *http.Request, r *repo, tok Token) {
	var body protection
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		s.giteaError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	branch := body.RuleName
	if branch == "" {
		branch = body.BranchName
	}
	switch {
	case tok.ReadOnly:
		s.giteaError(w, http.StatusForbidden, "user should be an owner or a collaborator with admin write of a repository")
		return
	case r.protected[branch] || len(r.contexts[branch]) > 0 || r.approvals[branch] > 0:
		s.giteaError(w, http.StatusForbidden, "Branch protection already exist")
		return
	}
	if r.protected == nil {
		r.protected, r.contexts, r.approvals = map[string]bool{}, map[string][]string{}, map[string]int{}
	}
	if r.contexts == nil {
		r.contexts, r.approvals = map[string][]string{}, map[string]int{}
	}
	r.protected[branch] = !body.EnablePush
	if body.EnableStatusCheck {
		r.contexts[branch] = body.StatusCheckContexts
	}
	r.approvals[branch] = body.RequiredApprovals
	body.RuleName, body.BranchName = branch, branch
	writeJSON(w, http.StatusCreated, body)
}

// unprotectLocked is Gitea's DELETE .../branch_protections/{name}.
func (s *Server) unprotectLocked(w http.ResponseWriter, r *repo, tok Token, branch string) {
	if tok.ReadOnly {
		s.giteaError(w, http.StatusForbidden, "user should be an owner or a collaborator with admin write of a repository")
		return
	}
	delete(r.protected, branch)
	delete(r.contexts, branch)
	delete(r.approvals, branch)
	w.WriteHeader(http.StatusNoContent)
}

// createStatusLocked is POST /repos/{o}/{r}/statuses/{sha}: a check
// reports on a commit. A success that completes a pull request's required
// checks lets its scheduled merge happen.
func (s *Server) createStatusLocked(w http.ResponseWriter, req *http.Request, r *repo, sha string) {
	var body struct {
		State       string `json:"state"`
		Context     string `json:"context"`
		Description string `json:"description"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return
	}
	if r.commits[sha] == nil {
		writeJSON(w, http.StatusUnprocessableEntity, message("No commit found for SHA: "+sha))
		return
	}
	if body.Context == "" {
		body.Context = "default"
	}
	if r.statuses == nil {
		r.statuses = map[string]map[string]string{}
	}
	if r.statuses[sha] == nil {
		r.statuses[sha] = map[string]string{}
	}
	r.statuses[sha][body.Context] = body.State
	for _, p := range r.pulls {
		if p.state == "open" && r.branches[p.head] == sha {
			s.autoMergeLocked(r, p)
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"state": body.State, "context": body.Context, "description": body.Description, "sha": sha})
}
