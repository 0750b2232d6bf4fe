package githubtest

import "net/http"

// The Gitea/Forgejo flavor.

// giteaVersion is what GET /version answers in the Gitea flavor.
const giteaVersion = "1.26.0"

// WithGitea makes the server answer as Gitea 1.2x does where Gitea differs
// from GitHub: GET /version answers, a stale blob sha answers 422 "sha does
// not match", branches are created with POST /repos/{o}/{r}/branches and
// deleted with DELETE .../branches/{b} while the git refs API is read-only
// (405), pull requests are listed without a head filter and merged with
// POST .../pulls/{n}/merge {"Do": ...} (PUT answers 405), a merge with
// merge_when_checks_succeed while checks are pending is scheduled (201) and
// happens on PassChecks, closing a pull request answers 201, a Contents API
// write to a protected branch answers 403, and commits by path answer 404
// when no commit touched the path. Combine it with WithBasePath("/api/v1/").
func WithGitea() Option {
	return func(s *Server) {
		s.gitea = true
		s.staleStatus = http.StatusUnprocessableEntity
	}
}
