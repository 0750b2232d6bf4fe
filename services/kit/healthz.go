package kit

import "net/http"

var okBody = []byte("ok")

// healthz answers the liveness probe. It stays 200 while draining: the process
// is healthy, only no longer taking new work, and a failing liveness probe
// would get it killed before in-flight requests finish.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) int {
	return write(w, contentTypeText, http.StatusOK, okBody)
}
