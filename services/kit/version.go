package kit

import "net/http"

// version answers GET /version with the build metadata, encoded once in New.
func (s *Server) version(w http.ResponseWriter, _ *http.Request) int {
	return write(w, contentTypeJSON, http.StatusOK, s.versionBody)
}
