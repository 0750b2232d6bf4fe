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
	// AutoMerge reports a Gitea merge scheduled for when the checks pass.
	AutoMerge bool
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
	// checkedAt is when the Gitea flavor is done testing the pull request
	// at its current head and base for conflicts; until then it is not
	// mergeable.
	checkedAt time.Time
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

// refresh brings an open pull's shas up to date with its branches. When
// one moved, the Gitea flavor tests the pull request again.
func (s *Server) refresh(r *repo, p *pull) {
	if p.state != "open" {
		return
	}
	head, base := p.headSHA, p.baseSHA
	if sha, ok := r.branches[p.head]; ok {
		p.headSHA = sha
	}
	if sha, ok := r.branches[p.base]; ok {
		p.baseSHA = sha
	}
	if p.headSHA != head || p.baseSHA != base {
		p.checkedAt = time.Now().Add(s.pullCheck)
	}
}

// checking reports whether the Gitea flavor is still testing the pull
// request for conflicts.
func (s *Server) checking(p *pull) bool {
	return s.gitea && time.Now().Before(p.checkedAt)
}

// checksPending reports whether the pull request waits for required status
// checks: those RequireChecks asked for until PassChecks, or the contexts a
// branch protection names until each reports success on the head commit.
func (r *repo) checksPending(p *pull) bool {
	if p.checksPassed {
		return false
	}
	if r.required[p.base] {
		return true
	}
	for _, c := range r.contexts[p.base] {
		if r.statuses[p.headSHA][c] != "success" {
			return true
		}
	}
	return false
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
	s.autoMergeLocked(r, p)
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
			State: p.state, Merged: p.merged, MergeCommitSHA: p.mergeSHA, User: p.user, AutoMerge: p.auto != nil,
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
	s.refresh(r, p)
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
		// Gitea's mergeable is a plain bool about conflicts, not checks,
		// and false while it tests for them.
		m["index"] = p.number
		m["mergeable"] = p.state == "open" && !s.checking(p)
		return m
	}
	switch {
	case p.state != "open":
		m["mergeable"], m["mergeable_state"] = nil, "unknown"
	case r.checksPending(p):
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
		state: "open", user: tok.Login, created: now, updated: now, checkedAt: now.Add(s.pullCheck),
	}
	r.pulls = append(r.pulls, p)
	m := s.pullJSON(r, p)
	if s.gitea {
		// Gitea's answer says mergeable before it has tested anything.
		m["mergeable"] = true
	}
	writeJSON(w, http.StatusCreated, m)
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
			s.giteaError(w, http.StatusUnprocessableEntity, msg)
			return
		}
		writeJSON(w, http.StatusUnprocessableEntity, validationFailed(map[string]string{"resource": "PullRequest", "code": "custom", "field": field, "message": msg}))
	}
	s.refresh(r, p)
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
	s.refresh(r, p)
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
	case r.checksPending(p):
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
	s.refresh(r, p)
	a := autoMerge{do: body.Do, title: body.Title, message: body.Message, deleteBranch: body.DeleteBranch, login: tok.Login}
	// In the order Gitea checks them.
	switch {
	case body.Do != "merge" && body.Do != "squash" && body.Do != "rebase" && body.Do != "rebase-merge" && body.Do != "fast-forward-only":
		s.giteaError(w, http.StatusUnprocessableEntity, "[Do]: In")
	case p.merged:
		s.giteaError(w, http.StatusMethodNotAllowed, "The PR is already merged")
	case p.state != "open" || r.branches[p.head] == "" || r.branches[p.base] == "":
		s.giteaNotFound(w)
	case s.checking(p):
		s.giteaError(w, http.StatusMethodNotAllowed, "Please try again later")
	case body.WhenChecks && p.auto != nil:
		s.giteaError(w, http.StatusConflict, fmt.Sprintf("pull request is already scheduled to auto merge when checks succeed [pull_id: %d]", p.number))
	case body.WhenChecks:
		// Scheduled whatever the checks say; carried out once they pass.
		p.auto = &a
		s.autoMergeLocked(r, p)
		w.WriteHeader(http.StatusCreated)
	case r.checksPending(p):
		s.giteaError(w, http.StatusMethodNotAllowed, "Not all required status checks successful")
	case r.approvals[p.base] > 0:
		// No review is ever given here.
		s.giteaError(w, http.StatusMethodNotAllowed, "Does not have enough approvals")
	case body.HeadCommitID != "" && body.HeadCommitID != p.headSHA:
		// A failed merge has Gitea test the pull request again.
		p.checkedAt = time.Now().Add(s.pullCheck)
		s.giteaError(w, http.StatusConflict, "head out of date")
	case body.Do == "fast-forward-only" && !r.ancestors(p.headSHA)[p.baseSHA]:
		p.checkedAt = time.Now().Add(s.pullCheck)
		s.giteaError(w, http.StatusConflict, "merge push out of date")
	default:
		s.giteaMergeNowLocked(r, p, a)
		w.WriteHeader(http.StatusOK)
	}
}

// cancelAutoMergeLocked is Gitea's DELETE /repos/{o}/{r}/pulls/{n}/merge,
// which cancels a scheduled merge.
func (s *Server) cancelAutoMergeLocked(w http.ResponseWriter, p *pull) {
	if p.auto == nil {
		s.giteaNotFound(w)
		return
	}
	p.auto = nil
	w.WriteHeader(http.StatusNoContent)
}

// autoMergeLocked carries out p's scheduled merge a moment later, as
// Gitea's queue does, if by then it may: the pull request is open, tested,
// and its required checks passed. Otherwise a later status or PassChecks
// calls it again.
func (s *Server) autoMergeLocked(r *repo, p *pull) {
	if p.auto == nil {
		return
	}
	time.AfterFunc(s.autoMerge, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.refresh(r, p)
		switch {
		case p.auto == nil || p.state != "open" || r.branches[p.head] == "" || r.checksPending(p) || r.approvals[p.base] > 0:
		case s.checking(p):
			s.autoMergeLocked(r, p) // once the test is done
		default:
			s.giteaMergeNowLocked(r, p, *p.auto)
		}
	})
}

// giteaMergeNowLocked merges p as Gitea does and deletes its head branch
// when asked.
func (s *Server) giteaMergeNowLocked(r *repo, p *pull, a autoMerge) {
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
	// Gitea keeps the head branch when it is the default or a protected
	// one, and says so only in its log.
	if a.deleteBranch && p.head != r.defaultBranch && !r.protected[p.head] {
		s.dropBranchLocked(r, p.head)
	}
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
