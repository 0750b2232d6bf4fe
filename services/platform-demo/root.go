package main

import (
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/andrelair-platform/platform-demo/services/kit"
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

// root answers GET / with what is running where, and since when it answered.
type root struct {
	version, commit, hostname, message string
	// now returns the current time; tests pin it.
	now func() time.Time
	// cache holds the body of / for the current second: "now" has second
	// resolution, so one encoding serves every request within that second.
	cache atomic.Pointer[rootBody]
}

// rootBody is the encoded body of / for one second of wall-clock time.
type rootBody struct {
	unix int64
	json []byte
}

func (h *root) serve(w http.ResponseWriter, _ *http.Request) int {
	now := h.now().UTC()
	body := h.cache.Load()
	if body == nil || body.unix != now.Unix() {
		// Concurrent requests at a second boundary may each encode; they store
		// equal bodies, so whichever wins is right.
		body = &rootBody{unix: now.Unix(), json: kit.MustJSON(rootResponse{
			App:       name,
			Version:   h.version,
			Commit:    h.commit,
			Hostname:  h.hostname,
			GoVersion: runtime.Version(),
			Now:       now.Format(time.RFC3339),
			Message:   h.message,
		})}
		h.cache.Store(body)
	}
	return kit.WriteJSON(w, http.StatusOK, body.json)
}
