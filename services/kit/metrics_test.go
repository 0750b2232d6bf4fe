package kit

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	s := newServer(testOptions())
	h := s.Handler()
	requests := []struct {
		method, path string
	}{
		{http.MethodGet, "/"},
		{http.MethodGet, "/version"},
		{http.MethodGet, "/version"},
		{http.MethodHead, "/healthz"},
		{http.MethodGet, "/readyz"},
		{http.MethodGet, "/no/such/path"},
		{http.MethodGet, "/another-unknown"},
		{http.MethodPost, "/version"},
	}
	for _, r := range requests {
		do(t, h, r.method, r.path)
	}
	s.ready.Store(false)
	do(t, h, http.MethodGet, "/readyz")

	got := do(t, h, http.MethodGet, "/metrics")
	if got.code != http.StatusOK || !strings.HasPrefix(got.contentType, "text/plain") {
		t.Fatalf("GET /metrics = %d %q, want 200 text/plain", got.code, got.contentType)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(got.body, "\n") {
		lines[l] = true
	}

	tests := []struct {
		name string
		line string
	}{
		{name: "root", line: `hello_world_http_requests_total{code="200",route="/"} 1`},
		{name: "version", line: `hello_world_http_requests_total{code="200",route="/version"} 2`},
		{name: "head counts as its route", line: `hello_world_http_requests_total{code="200",route="/healthz"} 1`},
		{name: "ready", line: `hello_world_http_requests_total{code="200",route="/readyz"} 1`},
		{name: "draining", line: `hello_world_http_requests_total{code="503",route="/readyz"} 1`},
		{name: "unknown paths share one series", line: `hello_world_http_requests_total{code="404",route="unmatched"} 2`},
		{name: "wrong method", line: `hello_world_http_requests_total{code="405",route="/version"} 1`},
		// Series are created up front, so a route shows 0 before its first request.
		{name: "no request yet", line: `hello_world_http_requests_total{code="200",route="/metrics"} 0`},
		{name: "latency", line: `hello_world_http_request_duration_seconds_count{code="200",route="/version"} 2`},
		{name: "build info", line: `hello_world_build_info{commit="1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",goversion="` + runtime.Version() + `",version="1a2b3c4"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !lines[tt.line] {
				t.Errorf("GET /metrics lacks line %q; got:\n%s", tt.line, got.body)
			}
		})
	}

	// Guards cardinality: client-chosen paths must never become label values.
	for _, raw := range []string{"/no/such/path", "/another-unknown"} {
		if strings.Contains(got.body, raw) {
			t.Errorf("GET /metrics contains the raw path %q", raw)
		}
	}
}

// TestMetricsIsolated guards the dedicated registry: two Servers in one
// process must not share counts.
func TestMetricsIsolated(t *testing.T) {
	a, b := newServer(testOptions()), newServer(testOptions())
	do(t, a.Handler(), http.MethodGet, "/version")
	body := do(t, b.Handler(), http.MethodGet, "/metrics").body
	if want := `hello_world_http_requests_total{code="200",route="/version"} 0`; !strings.Contains(body, want) {
		t.Errorf("GET /metrics of a second Server lacks %q: the registries are shared", want)
	}
}
