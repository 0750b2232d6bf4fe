package githubtest

import (
	"net/http"
	"time"
)

// The Gitea/Forgejo flavor.

// giteaVersion is what GET /version answers in the Gitea flavor.
const giteaVersion = "1.26.0"

// Timings of the Gitea flavor. Real Gitea 1.26 on the 2-core development
// machine took about 300 ms for a Contents API write, 250 ms to test a new
// pull request for conflicts (1.4 s after its base moved) and 2 s to carry
// out a scheduled merge; the stand-in keeps the same order of events in
// far less time.
const (
	giteaRefLock   = 20 * time.Millisecond
	giteaPullCheck = 30 * time.Millisecond
	giteaAutoMerge = 10 * time.Millisecond
)

// WithGitea makes the server answer as Gitea 1.26 does where Gitea differs
// from GitHub. The answers are those the real server gave (recorded in
// tools/internal/giteatest/testdata, which a test of each flavor and the
// integration suite compare against):
//
//   - GET /version answers, without a token.
//   - A Contents API write with a stale blob sha answers 422 "sha does not
//     match [given: …, expected: …]"; a write that passed that check but
//     lost the race for the branch ref to another write answers 403
//     "cannot lock ref 'refs/heads/<b>': is at <sha> but expected <sha>",
//     and a write to a branch protected against pushes 403 "user cannot
//     commit to repo [user: <login>]".
//   - Branches are created with POST .../branches and deleted with DELETE
//     .../branches/{b}; the git refs API is read-only (405, no body).
//   - Pull requests are listed without a head filter. They have no
//     mergeable_state; mergeable is false while the host tests a pull
//     request for conflicts (after it is opened, and after its head or base
//     moves), though the answer that opens it says true.
//   - POST .../pulls/{n}/merge {"Do": …} merges now (200, no body), or
//     answers 405: "Please try again later" (being tested), "Not all
//     required status checks successful", "Does not have enough approvals",
//     "The PR is already merged"; 409 "head out of date" for a stale
//     head_commit_id. PUT answers 405.
//   - With merge_when_checks_succeed the merge is scheduled (201, no body)
//     and carried out a moment later, once the required status checks
//     succeed; scheduling twice answers 409, and DELETE .../merge cancels
//     it (204; 404 "not found" when none is scheduled).
//   - Branch protections are set with POST .../branch_protections and
//     commit statuses with POST .../statuses/{sha}.
//   - Closing a pull request answers 201; commits by a path no commit
//     touched answer 404.
//
// Combine it with WithBasePath("/api/v1/").
func WithGitea() Option {
	return func(s *Server) {
		s.gitea = true
		s.staleStatus = http.StatusUnprocessableEntity
		s.refLock, s.pullCheck, s.autoMerge = giteaRefLock, giteaPullCheck, giteaAutoMerge
	}
}

// WithRefLockWindow makes a Contents API write hold the branch's old head
// for d between its sha check and the update of the ref, as a host that
// commits in a scratch repository and pushes does: writes that overlap in
// that window lose the race for the ref (Gitea: 403 "cannot lock ref";
// GitHub, as reported by users of its API: 409 "is at <sha> but expected
// <sha>"). Zero makes every write atomic.
func WithRefLockWindow(d time.Duration) Option {
	return func(s *Server) { s.refLock = d }
}

// WithPullCheck sets how long the Gitea flavor tests a pull request for
// conflicts after it opens or moves, during which it is not mergeable.
func WithPullCheck(d time.Duration) Option {
	return func(s *Server) { s.pullCheck = d }
}

// giteaError answers as Gitea's API errors do: a message and the URL of
// the API's documentation.
func (s *Server) giteaError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg, "url": s.srv.URL + "/api/swagger"})
}

// giteaNotFound is Gitea's 404, with the details it gives in errors.
func (s *Server) giteaNotFound(w http.ResponseWriter, errs ...string) {
	var e any
	if len(errs) > 0 {
		e = errs
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"errors": e, "message": "not found", "url": s.srv.URL + "/api/swagger"})
}
