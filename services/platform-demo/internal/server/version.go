package server

import "net/http"

// versionResponse is the body of GET /version, in podinfo's shape, with
// when this process started: since when the commit has been live here.
type versionResponse struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Started string `json:"started,omitempty"`
}

// version answers GET /version with the build metadata, encoded once in New.
func (s *Server) version(w http.ResponseWriter, _ *http.Request) int {
	return write(w, contentTypeJSON, http.StatusOK, s.versionBody)
}
