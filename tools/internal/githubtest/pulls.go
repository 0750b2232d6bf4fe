package githubtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Pull requests: create, list, get, edit, merge (GitHub's PUT and Gitea's
// POST with scheduled merges), required checks, and issue comments.

// PullRequest is a pull request as a test sees it.
type PullRequest struct {
	Number int
	Title  string
	Body   string
	// Head and Base are branch names.
	Head string
	Base string
	// State is "open" or "closed".
	State  string
	Merged bool
	// MergeCommitSHA is the commit the merge made on Base (the last one for
	// a rebase); empty until merged.
	MergeCommitSHA string
	// User is the login of the token that opened it.
	User string
}

type pull struct {
	number     int
	title      string
	body       string
	head, base string
	// headSHA and baseSHA follow the branches while the pull is open and
	// keep their last values once it closes.
	headSHA, baseSHA string
	state            string
	merged           bool
	mergeSHA         string
	user             string
	created          time.Time
	updated          time.Time
	closed           time.Time
	mergedAt         time.Time
	checksPassed     bool
	auto             *autoMerge // a Gitea merge waiting for checks
	comments         []string
}

// autoMerge is a Gitea merge scheduled with merge_when_checks_succeed.
type autoMerge struct {
	do, title, message string
	deleteBranch       bool
	login              string
}

func (p *pull) close() {
	now := time.Now().UTC()
	p.state, p.closed, p.updated = "closed", now, now
	p.auto = nil
}

// pull finds a pull request by its number as it appears in a path.
func (r *repo) pull(number string) *pull {
	n, err := strconv.Atoi(number)
	if err != nil || n < 1 || n > len(r.pulls) {
		return nil
	}
	return r.pulls[n-1]
}

// refresh brings an open pull's shas up to date with its branches.
func (r *repo) refresh(p *pull) {
	if p.state != "open" {
		return
	}
	if sha, ok := r.branches[p.head]; ok {
		p.headSHA = sha
	}
	if sha, ok := r.branches[p.base]; ok {
		p.baseSHA = sha
	}
}

// RequireChecks makes pull requests into branch of repository fullName
// unmergeable until PassChecks is called for them, as a required status
// check does. It does not protect the branch: call Protect for that.
func (s *Server) RequireChecks(fullName, branch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepoLocked(fullName)
	if r.required == nil {
		r.required = map[string]bool{}
	}
	r.required[branch] = true
}

// PassChecks marks the required checks of pull request number passed. A
// Gitea merge scheduled with merge_when_checks_succeed happens now.
func (s *Server) PassChecks(fullName string, number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepoLocked(fullName)
	p := r.pull(strconv.Itoa(number))
	if p == nil {
		panic(fmt.Sprintf("githubtest: no pull request %s#%d", fullName, number))
	}
	p.checksPassed = true
	if a := p.auto; a != nil && p.state == "open" && r.branches[p.head] != "" {
		r.refresh(p)
		s.giteaMergeNowLocked(r, p, *a)
	}
}

// Pulls returns the pull requests of repository fullName, oldest first.
func (s *Server) Pulls(fullName string) []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	if r == nil {
		return nil
	}
	out := make([]PullRequest, 0, len(r.pulls))
	for _, p := range r.pulls {
		out = append(out, PullRequest{
			Number: p.number, Title: p.title, Body: p.body, Head: p.head, Base: p.base,
			State: p.state, Merged: p.merged, MergeCommitSHA: p.mergeSHA, User: p.user,
		})
	}
	return out
}

// Comments returns the bodies of the comments on pull request number,
// oldest first.
func (s *Server) Comments(fullName string, number int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	if r == nil {
		return nil
	}
	p := r.pull(strconv.Itoa(number))
	if p == nil {
		return nil
	}
	return append([]string(nil), p.comments...)
}

func (s *Server) pullJSON(r *repo, p *pull) map[string]any {
	r.refresh(p)
	o := owner(r.name)
	repoJSON := map[string]any{"id": 1, "name": path.Base(r.name), "full_name": r.name, "owner": map[string]any{"login": o}}
	branch := func(ref, sha string) map[string]any {
		return map[string]any{"ref": ref, "sha": sha, "label": o + ":" + ref, "repo": repoJSON}
	}
	at := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.Format(time.RFC3339)
	}
	var mergeSHA any
	if p.mergeSHA != "" {
		mergeSHA = p.mergeSHA
	}
	m := map[string]any{
		"id":               p.number,
		"number":           p.number,
		"state":            p.state,
		"title":            p.title,
		"body":             p.body,
		"url":              s.URL + "repos/" + r.name + "/pulls/" + strconv.Itoa(p.number),
		"html_url":         s.htmlURL(r.name) + "/pull/" + strconv.Itoa(p.number),
		"user":             map[string]any{"login": p.user},
		"head":             branch(p.head, p.headSHA),
		"base":             branch(p.base, p.baseSHA),
		"merged":           p.merged,
		"merge_commit_sha": mergeSHA,
		"draft":            false,
		"created_at":       at(p.created),
		"updated_at":       at(p.updated),
		"closed_at":        at(p.closed),
		"merged_at":        at(p.mergedAt),
	}
	if s.gitea {
		// Gitea's mergeable is a plain bool about conflicts, not checks.
		m["index"] = p.number
		m["mergeable"] = p.state == "open"
		return m
	}
	switch {
	case p.state != "open":
		m["mergeable"], m["mergeable_state"] = nil, "unknown"
	case r.required[p.base] && !p.checksPassed:
		m["mergeable"], m["mergeable_state"] = false, "blocked"
	default:
		m["mergeable"], m["mergeable_state"] = true, "clean"
	}
	return m
}

// validationFailed is GitHub's 422 body with one error.
func validationFailed(e map[string]string) map[string]any {
	return map[string]any{
		"message":           "Validation Failed",
		"errors":            []map[string]string{e},
		"documentation_url": "https://docs.github.com/rest/pulls/pulls",
	}
}

// decodeBody decodes a JSON body; an empty body decodes as {}.
func decodeBody(w http.ResponseWriter, req *http.Request, v any) bool {
	if err := json.NewDecoder(req.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return false
	}
	return true
}

func (s *Server) createPullLocked(w http.ResponseWriter, req *http.Request, r *repo, tok Token) {
	var body struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
	}
	if !decodeBody(w, req, &body) {
		return
	}
	head := body.Head
	if o, b, ok := strings.Cut(head, ":"); ok && o == owner(r.name) {
		head = b
	}
	headSHA, headOK := r.branches[head]
	baseSHA, baseOK := r.branches[body.Base]
	var existing *pull
	for _, p := range r.pulls {
		if p.state == "open" && p.head == head && p.base == body.Base {
			existing = p
		}
	}
	if s.gitea {
		switch {
		case body.Title == "":
			writeJSON(w, http.StatusUnprocessableEntity, message("[Title]: Required"))
			return
		case !headOK || !baseOK:
			writeJSON(w, http.StatusNotFound, message("Not Found"))
			return
		case head == body.Base:
			writeJSON(w, http.StatusUnprocessableEntity, message("Invalid PullRequest: There are no changes between the head and the base"))
			return
		case existing != nil:
			writeJSON(w, http.StatusConflict, message(fmt.Sprintf(
				"pull request already exists for these targets [id: %d, issue_id: %d, head_repo_id: 1, base_repo_id: 1, head_branch: %s, base_branch: %s]",
				existing.number, existing.number, head, body.Base)))
			return
		}
	} else {
		switch {
		case body.Title == "":
			writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "PullRequest", "code": "missing_field", "field": "title"}))
			return
		case !headOK:
			writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "PullRequest", "code": "invalid", "field": "head"}))
			return
		case !baseOK:
			writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "PullRequest", "code": "invalid", "field": "base"}))
			return
		case existing != nil:
			writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{
				"resource": "PullRequest", "code": "custom",
				"message": fmt.Sprintf("A pull request already exists for %s:%s.", owner(r.name), head),
			}))
			return
		case r.ancestors(baseSHA)[headSHA]:
			writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{
				"resource": "PullRequest", "code": "custom",
				"message": fmt.Sprintf("No commits between %s and %s", body.Base, head),
			}))
			return
		}
	}
	now := time.Now().UTC()
	p := &pull{
		number: len(r.pulls) + 1, title: body.Title, body: body.Body,
		head: head, base: body.Base, headSHA: headSHA, baseSHA: baseSHA,
		state: "open", user: tok.Login, created: now, updated: now,
	}
	r.pulls = append(r.pulls, p)
	writeJSON(w, http.StatusCreated, s.pullJSON(r, p))
}

func (s *Server) listPullsLocked(w http.ResponseWriter, req *http.Request, r *repo) {
	q := req.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "PullRequest", "code": "invalid", "field": "state"}))
		return
	}
	// GitHub filters by head only in the owner:branch form and silently
	// ignores a bare branch name; Gitea has no head filter at all.
	headOwner, head, byHead := strings.Cut(q.Get("head"), ":")
	base := q.Get("base")
	if s.gitea {
		byHead, base = false, q.Get("base_branch")
	}
	var out []any
	for i := range r.pulls {
		p := r.pulls[len(r.pulls)-1-i]
		if q.Get("direction") == "asc" {
			p = r.pulls[i]
		}
		switch {
		case state != "all" && p.state != state:
		case byHead && (headOwner != owner(r.name) || p.head != head):
		case base != "" && p.base != base:
		default:
			out = append(out, s.pullJSON(r, p))
		}
	}
	lo, hi := s.paginate(w, req, len(out))
	writeJSON(w, http.StatusOK, append([]any{}, out[lo:hi]...))
}

func (s *Server) editPullLocked(w http.ResponseWriter, req *http.Request, r *repo, p *pull) {
	var body struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
		Base  *string `json:"base"`
	}
	if !decodeBody(w, req, &body) {
		return
	}
	invalid := func(field, msg string) {
		if s.gitea {
			writeJSON(w, http.StatusUnprocessableEntity, message(msg))
			return
		}
		writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "PullRequest", "code": "custom", "field": field, "message": msg}))
	}
	r.refresh(p)
	if body.State != nil {
		switch {
		case *body.State != "open" && *body.State != "closed":
			invalid("state", "state must be open or closed")
			return
		case *body.State == "open" && p.merged:
			invalid("state", "state cannot be changed. The pull request has been merged.")
			return
		case *body.State == "open" && p.state == "closed" && r.branches[p.head] == "":
			invalid("state", "state cannot be changed. The "+p.head+" branch has been deleted.")
			return
		}
	}
	if body.Base != nil && *body.Base != p.base && (p.state != "open" || r.branches[*body.Base] == "") {
		invalid("base", "Proposed base branch '"+*body.Base+"' was not found")
		return
	}
	if body.Title != nil {
		p.title = *body.Title
	}
	if body.Body != nil {
		p.body = *body.Body
	}
	if body.Base != nil {
		p.base = *body.Base
	}
	p.updated = time.Now().UTC()
	if body.State != nil && *body.State != p.state {
		if *body.State == "closed" {
			p.close()
		} else {
			p.state, p.closed = "open", time.Time{}
		}
	}
	status := http.StatusOK
	if s.gitea {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.pullJSON(r, p))
}

// mergePullLocked is GitHub's PUT /repos/{o}/{r}/pulls/{n}/merge.
func (s *Server) mergePullLocked(w http.ResponseWriter, req *http.Request, r *repo, tok Token, p *pull) {
	var body struct {
		CommitTitle   string `json:"commit_title"`
		CommitMessage string `json:"commit_message"`
		MergeMethod   string `json:"merge_method"`
		SHA           string `json:"sha"`
	}
	if !decodeBody(w, req, &body) {
		return
	}
	if body.MergeMethod == "" {
		body.MergeMethod = "merge"
	}
	r.refresh(p)
	notMergeable := map[string]string{"message": "Pull Request is not mergeable", "documentation_url": "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"}
	switch {
	case body.MergeMethod != "merge" && body.MergeMethod != "squash" && body.MergeMethod != "rebase":
		writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "PullRequest", "code": "invalid", "field": "merge_method"}))
		return
	case p.state != "open" || r.branches[p.head] == "" || r.branches[p.base] == "":
		writeJSON(w, http.StatusMethodNotAllowed, notMergeable)
		return
	case body.SHA != "" && body.SHA != p.headSHA:
		writeJSON(w, http.StatusConflict, map[string]string{
			"message":           "Head branch was modified. Review and try the merge again.",
			"documentation_url": "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request",
		})
		return
	case r.required[p.base] && !p.checksPassed:
		writeJSON(w, http.StatusMethodNotAllowed, notMergeable)
		return
	}
	msg := body.CommitTitle
	if msg == "" {
		msg = fmt.Sprintf("Merge pull request #%d from %s/%s", p.number, owner(r.name), p.head)
	}
	if body.CommitMessage != "" {
		msg += "\n\n" + body.CommitMessage
	}
	sha := s.mergeLocked(r, p, body.MergeMethod, msg, tok.Login)
	writeJSON(w, http.StatusOK, map[string]any{"sha": sha, "merged": true, "message": "Pull Request successfully merged"})
}

// giteaMergeLocked is Gitea's POST /repos/{o}/{r}/pulls/{index}/merge.
func (s *Server) giteaMergeLocked(w http.ResponseWriter, req *http.Request, r *repo, tok Token, p *pull) {
	var body struct {
		Do           string `json:"Do"`
		Title        string `json:"MergeTitleField"`
		Message      string `json:"MergeMessageField"`
		HeadCommitID string `json:"head_commit_id"`
		WhenChecks   bool   `json:"merge_when_checks_succeed"`
		DeleteBranch bool   `json:"delete_branch_after_merge"`
	}
	if !decodeBody(w, req, &body) {
		return
	}
	if body.Do == "" {
		body.Do = "merge"
	}
	r.refresh(p)
	switch {
	case body.Do != "merge" && body.Do != "squash" && body.Do != "rebase" && body.Do != "rebase-merge" && body.Do != "fast-forward-only":
		writeJSON(w, http.StatusUnprocessableEntity, message("[Do]: In"))
		return
	case p.merged:
		writeJSON(w, http.StatusMethodNotAllowed, message(""))
		return
	case p.state != "open" || r.branches[p.head] == "" || r.branches[p.base] == "":
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	case body.HeadCommitID != "" && body.HeadCommitID != p.headSHA:
		writeJSON(w, http.StatusConflict, message("head out of date"))
		return
	case body.Do == "fast-forward-only" && !r.ancestors(p.headSHA)[p.baseSHA]:
		writeJSON(w, http.StatusConflict, message("merge push out of date"))
		return
	}
	a := autoMerge{do: body.Do, title: body.Title, message: body.Message, deleteBranch: body.DeleteBranch, login: tok.Login}
	if r.required[p.base] && !p.checksPassed {
		switch {
		case !body.WhenChecks:
			writeJSON(w, http.StatusMethodNotAllowed, message("Please try again later"))
		case p.auto != nil:
			writeJSON(w, http.StatusConflict, message("auto merge already scheduled"))
		default:
			p.auto = &a
			w.WriteHeader(http.StatusCreated)
		}
		return
	}
	if msg := s.giteaMergeNowLocked(r, p, a); msg != "" {
		// The merge happened; only deleting the head branch failed.
		writeJSON(w, http.StatusForbidden, message(msg))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// giteaMergeNowLocked merges p as Gitea does and deletes its head branch
// when asked, returning why it could not.
func (s *Server) giteaMergeNowLocked(r *repo, p *pull, a autoMerge) string {
	msg := a.title
	if msg == "" {
		msg = fmt.Sprintf("Merge pull request '%s' (#%d) from %s into %s", p.title, p.number, p.head, p.base)
		if a.do == "squash" {
			msg = fmt.Sprintf("%s (#%d)", p.title, p.number)
		}
	}
	if a.message != "" {
		msg += "\n\n" + a.message
	}
	method := a.do
	switch method {
	case "rebase-merge":
		method = "merge"
	case "fast-forward-only":
		method = "fast-forward"
	}
	s.mergeLocked(r, p, method, msg, a.login)
	if !a.deleteBranch {
		return ""
	}
	switch {
	case p.head == r.defaultBranch:
		return "can not delete default branch"
	case r.protected[p.head]:
		return "branch protected"
	}
	s.dropBranchLocked(r, p.head)
	return ""
}

// mergeLocked merges pull p into its base branch and returns the commit the
// base now points at. The result takes the head's version of every path the
// head changed since the merge base and keeps the base's other changes.
// method is "merge" (parents: base, head), "squash" (one parent),
// "rebase" (the head's commits replayed one by one) or "fast-forward".
func (s *Server) mergeLocked(r *repo, p *pull, method, msg, author string) string {
	baseSHA, headSHA := r.branches[p.base], r.branches[p.head]
	mb := r.commits[r.mergeBase(headSHA, r.ancestors(baseSHA))]
	var sha string
	switch method {
	case "fast-forward":
		sha = headSHA
	case "rebase":
		var chain []*commit
		for c := r.commits[headSHA]; c != nil && c != mb; {
			chain = append(chain, c)
			if len(c.parents) == 0 {
				break
			}
			c = r.commits[c.parents[0]]
		}
		sha = baseSHA
		for i := len(chain) - 1; i >= 0; i-- {
			c := chain[i]
			var parent map[string]string
			if len(c.parents) > 0 && r.commits[c.parents[0]] != nil {
				parent = r.commits[c.parents[0]].tree
			}
			sha = s.storeCommitLocked(r, []string{sha}, applyChanges(r.commits[sha].tree, parent, c.tree), c.message, c.author)
		}
	default:
		var since map[string]string
		if mb != nil {
			since = mb.tree
		}
		parents := []string{baseSHA}
		if method == "merge" {
			parents = append(parents, headSHA)
		}
		sha = s.storeCommitLocked(r, parents, applyChanges(r.commits[baseSHA].tree, since, r.commits[headSHA].tree), msg, author)
	}
	r.branches[p.base] = sha
	p.headSHA, p.baseSHA = headSHA, baseSHA
	p.close()
	p.merged, p.mergeSHA, p.mergedAt = true, sha, p.closed
	return sha
}

// applyChanges returns onto with the changes from before to after: every
// path whose blob differs takes after's version, or goes if after lacks it.
func applyChanges(onto, before, after map[string]string) map[string]string {
	tree := make(map[string]string, len(onto))
	for p, b := range onto {
		tree[p] = b
	}
	for p, b := range after {
		if before[p] != b {
			tree[p] = b
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			delete(tree, p)
		}
	}
	return tree
}

// storeCommitLocked adds a commit with this tree and these parents, outside
// any branch, and returns its sha.
func (s *Server) storeCommitLocked(r *repo, parents []string, tree map[string]string, message, author string) string {
	s.sequence++
	h := sha1.New()
	fmt.Fprintf(h, "%s\n%v\n%s\n%s\n%d\n", treeSHA(tree), parents, message, author, s.sequence)
	sha := hex.EncodeToString(h.Sum(nil))
	r.commits[sha] = &commit{sha: sha, parents: parents, message: message, author: author, date: time.Now().UTC(), tree: tree}
	return sha
}

func (s *Server) commentLocked(w http.ResponseWriter, req *http.Request, r *repo, tok Token, number string) {
	var body struct {
		Body string `json:"body"`
	}
	if !decodeBody(w, req, &body) {
		return
	}
	p := r.pull(number)
	switch {
	case p == nil:
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	case body.Body == "":
		writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "IssueComment", "code": "missing_field", "field": "body"}))
		return
	}
	p.comments = append(p.comments, body.Body)
	id := p.number*1000 + len(p.comments)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id":         id,
		"body":       body.Body,
		"user":       map[string]any{"login": tok.Login},
		"html_url":   fmt.Sprintf("%s/pull/%d#issuecomment-%d", s.htmlURL(r.name), p.number, id),
		"created_at": time.Now().UTC().Format(time.RFC3339),
	})
}
