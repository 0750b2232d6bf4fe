package server

import (
	"net/http"
	"runtime"
	"time"
)

// rootResponse is the body of GET /.
type rootResponse struct {
	App       string `json:"app"`
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Hostname  string `json:"hostname"`
	GoVersion string `json:"goVersion"`
	Now       string `json:"now"`
	Message   string `json:"message"`
}

// rootBody is the encoded body of / for one second of wall-clock time.
type rootBody struct {
	unix int64
	json []byte
}

// root answers GET / with what is running where, and since when it answered.
func (s *Server) root(w http.ResponseWriter, _ *http.Request) int {
	now := s.now().UTC()
	body := s.rootCache.Load()
	if body == nil || body.unix != now.Unix() {
		// Concurrent requests at a second boundary may each encode; they store
		// equal bodies, so whichever wins is right.
		body = &rootBody{unix: now.Unix(), json: mustJSON(rootResponse{
			App:       App,
			Version:   s.opts.Version,
			Commit:    s.opts.Commit,
			Hostname:  s.opts.Hostname,
			GoVersion: runtime.Version(),
			Now:       now.Format(time.RFC3339),
			Message:   s.opts.Message,
		})}
		s.rootCache.Store(body)
	}
	return write(w, contentTypeJSON, http.StatusOK, body.json)
}
