package kit

import (
	"net/http"
	"testing"
)

func TestReadyz(t *testing.T) {
	tests := []struct {
		name  string
		ready bool
		want  response
	}{
		{name: "serving", ready: true, want: response{code: http.StatusOK, contentType: "text/plain; charset=utf-8", body: "ready"}},
		{name: "draining", ready: false, want: response{code: http.StatusServiceUnavailable, contentType: "text/plain; charset=utf-8", body: "draining"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(testOptions())
			s.ready.Store(tt.ready)
			if got := do(t, s.Handler(), http.MethodGet, "/readyz"); got != tt.want {
				t.Errorf("GET /readyz = %+v, want %+v", got, tt.want)
			}
		})
	}
}
