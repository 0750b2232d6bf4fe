package kit

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, so that benchmarks
// measure the handlers rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandler compares the endpoints with a bare handler writing a
// static JSON body, the cost floor of any handler.
func BenchmarkHandler(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"dev","commit":"unknown"}`))
	})
	h := newServer(testOptions()).Handler()
	tests := []struct {
		name string
		h    http.Handler
		path string
	}{
		{name: "bare", h: bare, path: "/"},
		{name: "root", h: h, path: "/"},
		{name: "version", h: h, path: "/version"},
		{name: "healthz", h: h, path: "/healthz"},
		{name: "unmatched", h: h, path: "/nope"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				tt.h.ServeHTTP(w, r)
			}
		})
	}
}
