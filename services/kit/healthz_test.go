package kit

import (
	"net/http"
	"testing"
)

func TestHealthz(t *testing.T) {
	tests := []struct {
		name  string
		ready bool
	}{
		{name: "serving", ready: true},
		// A draining process is still alive; failing liveness would get it
		// killed with requests in flight.
		{name: "draining", ready: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(testOptions())
			s.ready.Store(tt.ready)
			got := do(t, s.Handler(), http.MethodGet, "/healthz")
			want := response{code: http.StatusOK, contentType: "text/plain; charset=utf-8", body: "ok"}
			if got != want {
				t.Errorf("GET /healthz = %+v, want %+v", got, want)
			}
		})
	}
}
