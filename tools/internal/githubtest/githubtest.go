// Package githubtest runs a per-test GitHub REST API server that keeps real
// state: repositories with branches and commits, blob shas computed as git
// computes them, protected branches, pull requests with required checks,
// tokens with scopes and permissions, GitHub Apps that mint installation
// tokens from RS256 JWTs, and rate limits on demand. It serves the subset of
// the API that gitops tooling uses (the Contents API, compare, commits by
// path, git refs, branches, pull requests and their merges, issue comments,
// App installations, repository and user lookups) closely enough for the
// real go-github client to run against it.
//
// WithGitea switches the server to the Gitea/Forgejo flavor of the same
// flow: a version endpoint, branches created through POST branches instead
// of git refs, merges through POST .../merge with "Do" and scheduled
// merges, and Gitea's status codes where they differ from GitHub's.
package githubtest

import (
	"crypto/rsa"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token describes what an access token may do.
type Token struct {
	// Login is the user the token belongs to (GET /user).
	Login string
	// Scopes are sent in the X-OAuth-Scopes header as classic personal
	// access tokens do. Nil omits the header, as fine-grained tokens do.
	Scopes []string
	// Repos lists the "owner/name" repositories the token can see; others
	// answer 404 as private repositories do. Nil means every repository.
	Repos []string
	// ReadOnly tokens can read but not write: writes answer 403.
	ReadOnly bool

	// perms are an App installation token's permissions (e.g. "contents":
	// "write"); nil for user tokens.
	perms map[string]string
}

// LimitKind is the kind of rate limit a request runs into.
type LimitKind int

const (
	// PrimaryLimit answers 403 with X-RateLimit-Remaining: 0 and a reset time.
	PrimaryLimit LimitKind = iota
	// SecondaryLimit answers 403 with Retry-After and the secondary rate
	// limit documentation URL.
	SecondaryLimit
	// TooManyRequests answers 429 with Retry-After.
	TooManyRequests
)

// Limit is a rate limit imposed on upcoming requests.
type Limit struct {
	Kind LimitKind
	// After is how long the client must wait; rounded up to whole seconds,
	// the precision of the headers.
	After time.Duration
}

// Commit is one commit of a repository.
type Commit struct {
	SHA     string
	Parents []string
	Message string
	Author  string
	// Files maps each path to its content at this commit.
	Files map[string]string
}

// Option configures a Server.
type Option func(*Server)

// WithBasePath serves the API under p (e.g. "/api/v1/" like Gitea, or
// "/api/v3/" like GitHub Enterprise) instead of at the root.
func WithBasePath(p string) Option {
	return func(s *Server) {
		s.base = "/" + strings.Trim(p, "/") + "/"
		if s.base == "//" {
			s.base = "/"
		}
	}
}

// WithStaleSHAStatus sets the answer to a write with an outdated blob sha:
// 409 Conflict as GitHub documents (the default), or 422 with "sha does not
// match" as Gitea answers.
func WithStaleSHAStatus(code int) Option {
	return func(s *Server) { s.staleStatus = code }
}

// Server is a stateful fake of the GitHub REST API on 127.0.0.1.
type Server struct {
	// URL is the API root with a trailing slash, to be used as the client's
	// base URL as is.
	URL string

	srv         *httptest.Server
	base        string
	staleStatus int
	gitea       bool
	// refLock is how long a Contents API write holds the old head before
	// it updates the ref (WithRefLockWindow); pullCheck how long the Gitea
	// flavor tests a pull request (WithPullCheck); autoMerge how long it
	// takes to carry out a scheduled merge once it may.
	refLock, pullCheck, autoMerge time.Duration

	mu       sync.Mutex
	repos    map[string]*repo
	tokens   map[string]Token
	counts   map[string]int
	total    int
	limits   []Limit
	hooks    []func(*http.Request)
	remain   int
	sequence int
	apps     map[int64]*rsa.PublicKey
	installs map[int64]*installation
	minted   []MintedToken
}

type repo struct {
	name          string
	defaultBranch string
	branches      map[string]string // branch -> commit sha
	commits       map[string]*commit
	blobs         map[string][]byte
	protected     map[string]bool              // branches that refuse direct writes
	required      map[string]bool              // base branches whose pulls need checks
	contexts      map[string][]string          // base branch -> status contexts that must succeed
	approvals     map[string]int               // base branch -> approving reviews a merge needs
	statuses      map[string]map[string]string // commit -> context -> latest state
	pulls         []*pull                      // by number - 1
}

type commit struct {
	sha     string
	parents []string
	message string
	author  string
	date    time.Time
	tree    map[string]string // path -> blob sha
}

// New starts a server on 127.0.0.1. The caller closes it, with Close (in a
// test: t.Cleanup(srv.Close)).
func New(opts ...Option) *Server {
	s := &Server{
		base:        "/",
		staleStatus: http.StatusConflict,
		repos:       map[string]*repo{},
		tokens:      map[string]Token{},
		counts:      map[string]int{},
		remain:      5000,
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + s.base
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// AddToken registers an access token.
func (s *Server) AddToken(token string, tok Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok.Login == "" {
		tok.Login = "octocat"
	}
	s.tokens[token] = tok
}

// CreateRepo creates repository fullName ("owner/name") with one commit on
// branch holding files, and returns that commit's sha.
func (s *Server) CreateRepo(fullName, branch string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &repo{
		name:          fullName,
		defaultBranch: branch,
		branches:      map[string]string{},
		commits:       map[string]*commit{},
		blobs:         map[string][]byte{},
	}
	s.repos[fullName] = r
	return s.commitLocked(r, branch, "initial commit", "octocat", files)
}

// CommitFiles commits files (path -> content) on top of branch, creating
// the branch from the default branch when it does not exist, as a push by
// someone else would. It returns the new commit sha.
func (s *Server) CommitFiles(fullName, branch, message string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	if r == nil {
		panic("githubtest: no repository " + fullName)
	}
	if _, ok := r.branches[branch]; !ok {
		r.branches[branch] = r.branches[r.defaultBranch]
	}
	return s.commitLocked(r, branch, message, "octocat", files)
}

// AddCommit adds a commit with a chosen sha and parents to a repository,
// outside any branch, so that tests can define the ancestry that compare
// answers from.
func (s *Server) AddCommit(fullName, sha string, parents ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	if r == nil {
		panic("githubtest: no repository " + fullName)
	}
	tree := map[string]string{}
	if len(parents) > 0 {
		if p := r.commits[parents[0]]; p != nil {
			tree = p.tree
		}
	}
	r.commits[sha] = &commit{sha: sha, parents: parents, message: "commit " + sha, date: time.Now().UTC(), tree: tree}
}

// File returns the content of path at branch.
func (s *Server) File(fullName, branch, p string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	if r == nil {
		return nil, false
	}
	c := r.commits[r.branches[branch]]
	if c == nil {
		return nil, false
	}
	blob, ok := c.tree[p]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), r.blobs[blob]...), true
}

// Log returns the commits of branch following first parents, newest first.
func (s *Server) Log(fullName, branch string) []Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	if r == nil {
		return nil
	}
	var out []Commit
	for sha := r.branches[branch]; sha != ""; {
		c := r.commits[sha]
		if c == nil {
			break
		}
		files := map[string]string{}
		for p, b := range c.tree {
			files[p] = string(r.blobs[b])
		}
		out = append(out, Commit{SHA: c.sha, Parents: c.parents, Message: c.message, Author: c.author, Files: files})
		sha = ""
		if len(c.parents) > 0 {
			sha = c.parents[0]
		}
	}
	return out
}

// RateLimit makes the next len(limits) requests fail with the given limits,
// one each, before normal service resumes.
func (s *Server) RateLimit(limits ...Limit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = append(s.limits, limits...)
}

// OnRequest registers f to run at the start of every request, before the
// server looks at its state; tests use it to interleave a competing write.
func (s *Server) OnRequest(f func(*http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, f)
}

// Count returns how many requests had this method and path, the path taken
// relative to the API root and without query, e.g.
// Count("GET", "/repos/o/r/contents/a.yaml").
func (s *Server) Count(method, p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+p]
}

// Counts returns a copy of the request counts keyed by "METHOD /path".
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Requests returns the number of requests served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// ResetCounts forgets the request counts.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
	s.total = 0
}

func (s *Server) commitLocked(r *repo, branch, message, author string, files map[string]string) string {
	tree := map[string]string{}
	var parents []string
	if head, ok := r.branches[branch]; ok && head != "" {
		parents = []string{head}
		for p, b := range r.commits[head].tree {
			tree[p] = b
		}
	}
	for p, content := range files {
		sha := BlobSHA([]byte(content))
		r.blobs[sha] = []byte(content)
		tree[p] = sha
	}
	s.sequence++
	h := sha1.New()
	fmt.Fprintf(h, "%s\n%v\n%s\n%s\n%d\n", treeSHA(tree), parents, message, author, s.sequence)
	sha := hex.EncodeToString(h.Sum(nil))
	r.commits[sha] = &commit{sha: sha, parents: parents, message: message, author: author, date: time.Now().UTC(), tree: tree}
	r.branches[branch] = sha
	return sha
}

// BlobSHA is the git object id of a blob with this content, which is what
// the Contents API calls the file's sha.
func BlobSHA(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

func treeSHA(tree map[string]string) string {
	paths := make([]string, 0, len(tree))
	for p := range tree {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha1.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s %s\n", p, tree[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// serve authenticates, applies rate limits and routes one request.
func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	rel, ok := strings.CutPrefix(req.URL.Path, s.base)
	if !ok {
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	}
	rel = "/" + rel

	s.mu.Lock()
	s.counts[req.Method+" "+rel]++
	s.total++
	hooks := append([]func(*http.Request){}, s.hooks...)
	s.mu.Unlock()
	for _, h := range hooks {
		h(req)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	if s.gitea && req.Method == http.MethodGet && rel == "/version" {
		// Gitea answers the version without authentication.
		writeJSON(w, http.StatusOK, map[string]string{"version": giteaVersion})
		return
	}
	tokenValue, hasAuth := bearer(req)
	tok, known := s.tokens[tokenValue]
	switch {
	case !hasAuth:
		writeJSON(w, http.StatusUnauthorized, message("Requires authentication"))
		return
	case !known && isJWT(tokenValue):
		s.serveAppLocked(w, req, tokenValue, rel)
		return
	case !known:
		writeJSON(w, http.StatusUnauthorized, message("Bad credentials"))
		return
	}
	if tok.Scopes != nil {
		w.Header().Set("X-OAuth-Scopes", strings.Join(tok.Scopes, ", "))
	}
	if s.rateLimitedLocked(w) {
		return
	}

	parts := strings.Split(strings.Trim(rel, "/"), "/")
	switch {
	case req.Method == http.MethodGet && rel == "/user" && tok.perms != nil:
		writeJSON(w, http.StatusForbidden, message(notByIntegration))
	case req.Method == http.MethodGet && rel == "/user":
		writeJSON(w, http.StatusOK, map[string]any{"login": tok.Login, "id": 1, "type": "User"})
	case parts[0] == "app":
		// App endpoints want the App's JWT, not a token.
		writeJSON(w, http.StatusUnauthorized, message(jwtUndecodable))
	case len(parts) >= 3 && parts[0] == "repos":
		s.serveRepoLocked(w, req, tok, parts[1]+"/"+parts[2], parts[3:])
	default:
		writeJSON(w, http.StatusNotFound, message("Not Found"))
	}
}

func (s *Server) rateLimitedLocked(w http.ResponseWriter) bool {
	now := time.Now()
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Resource", "core")
	if len(s.limits) == 0 {
		if s.remain > 1 {
			s.remain--
		}
		h.Set("X-RateLimit-Remaining", strconv.Itoa(s.remain))
		h.Set("X-RateLimit-Used", strconv.Itoa(5000-s.remain))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
		return false
	}
	l := s.limits[0]
	s.limits = s.limits[1:]
	secs := int64((l.After + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	switch l.Kind {
	case PrimaryLimit:
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", "5000")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Unix()+secs, 10))
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "API rate limit exceeded for user ID 1.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
		})
	case SecondaryLimit:
		h.Set("X-RateLimit-Remaining", strconv.Itoa(s.remain))
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
	default:
		h.Set("X-RateLimit-Remaining", strconv.Itoa(s.remain))
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		writeJSON(w, http.StatusTooManyRequests, message("Too many requests"))
	}
	return true
}

func (s *Server) serveRepoLocked(w http.ResponseWriter, req *http.Request, tok Token, name string, rest []string) {
	r := s.repos[name]
	if r == nil || !canSee(tok, name) {
		writeJSON(w, http.StatusNotFound, message("Not Found"))
		return
	}
	switch {
	case len(rest) == 0 && req.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"id":             1,
			"name":           path.Base(name),
			"full_name":      name,
			"owner":          map[string]any{"login": path.Dir(name)},
			"private":        true,
			"default_branch": r.defaultBranch,
			"html_url":       s.htmlURL(name),
			"permissions":    map[string]bool{"admin": false, "maintain": false, "push": !tok.ReadOnly, "triage": !tok.ReadOnly, "pull": true},
		})
	case len(rest) >= 2 && rest[0] == "branches" && req.Method == http.MethodGet:
		// Branch names keep their slashes: go-github escapes them as %2F.
		name := strings.Join(rest[1:], "/")
		if _, ok := r.branches[name]; !ok {
			writeJSON(w, http.StatusNotFound, message("Branch not found"))
			return
		}
		writeJSON(w, http.StatusOK, s.branchJSON(r, tok, name))
	case len(rest) >= 1 && rest[0] == "contents" && req.Method == http.MethodGet:
		if !allowed(w, tok, "contents", "read") {
			return
		}
		s.getContentsLocked(w, req, r, strings.Join(rest[1:], "/"))
	case len(rest) >= 2 && rest[0] == "contents" && req.Method == http.MethodPut:
		if !allowed(w, tok, "contents", "write") {
			return
		}
		s.putContentsLocked(w, req, r, tok, strings.Join(rest[1:], "/"))
	case len(rest) == 2 && rest[0] == "compare" && req.Method == http.MethodGet:
		s.compareLocked(w, r, rest[1])
	default:
		s.serveRepoMoreLocked(w, req, tok, r, rest)
	}
}

func canSee(tok Token, name string) bool {
	if tok.Repos == nil {
		return true
	}
	for _, r := range tok.Repos {
		if r == name {
			return true
		}
	}
	return false
}

// bearer extracts the token from "Bearer", "token" or basic authorization.
func bearer(req *http.Request) (string, bool) {
	if _, pass, ok := req.BasicAuth(); ok {
		return pass, true
	}
	h := req.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	if v, ok := strings.CutPrefix(h, "Bearer "); ok {
		return v, true
	}
	if v, ok := strings.CutPrefix(h, "token "); ok {
		return v, true
	}
	return h, true
}

func message(m string) map[string]string {
	return map[string]string{"message": m, "documentation_url": "https://docs.github.com/rest"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
