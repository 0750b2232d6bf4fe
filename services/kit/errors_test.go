package kit

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestErrors guards the JSON error bodies: without the catch-all and the
// per-path patterns, ServeMux answers 404 and 405 in plain text.
func TestErrors(t *testing.T) {
	notFound := response{code: http.StatusNotFound, contentType: "application/json", body: `{"error":"not found"}` + "\n"}
	notAllowed := response{code: http.StatusMethodNotAllowed, contentType: "application/json", body: `{"error":"method not allowed"}` + "\n"}
	tests := []struct {
		name   string
		method string
		path   string
		want   response
	}{
		{name: "unknown path", method: http.MethodGet, path: "/nope", want: notFound},
		{name: "below root", method: http.MethodGet, path: "/version/extra", want: notFound},
		{name: "trailing slash", method: http.MethodGet, path: "/healthz/", want: notFound},
		{name: "unknown path other method", method: http.MethodDelete, path: "/nope", want: notFound},
		{name: "post root", method: http.MethodPost, path: "/", want: notAllowed},
		{name: "post version", method: http.MethodPost, path: "/version", want: notAllowed},
		{name: "put healthz", method: http.MethodPut, path: "/healthz", want: notAllowed},
		{name: "delete readyz", method: http.MethodDelete, path: "/readyz", want: notAllowed},
		{name: "post metrics", method: http.MethodPost, path: "/metrics", want: notAllowed},
		{name: "options version", method: http.MethodOptions, path: "/version", want: notAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServer(testOptions()).Handler()
			if got := do(t, h, tt.method, tt.path); got != tt.want {
				t.Errorf("%s %s = %+v, want %+v", tt.method, tt.path, got, tt.want)
			}
			if tt.want.code != http.StatusMethodNotAllowed {
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if got, want := rec.Header().Get("Allow"), "GET, HEAD"; got != want {
				t.Errorf("%s %s Allow = %q, want %q", tt.method, tt.path, got, want)
			}
		})
	}
}
