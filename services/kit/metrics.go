package kit

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMetricsHandler exposes the Server's own registry, never the global one,
// so that every Server (and every test) counts only its own requests.
func newMetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) int {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	s.metrics.ServeHTTP(rec, r)
	return rec.code
}

// statusRecorder remembers the status code written by a handler that does not
// report it. Only /metrics needs it, so its allocation stays off the hot paths.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
