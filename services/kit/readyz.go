package kit

import "net/http"

var (
	readyBody    = []byte("ready")
	drainingBody = []byte("draining")
)

// readyz answers the readiness probe: 200 while serving, 503 from the moment
// Serve starts draining, so load balancers stop sending new requests.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) int {
	if !s.ready.Load() {
		return write(w, contentTypeText, http.StatusServiceUnavailable, drainingBody)
	}
	return write(w, contentTypeText, http.StatusOK, readyBody)
}
