// Package server serves the platform-demo HTTP API: a JSON landing page, the
// build version, liveness and readiness probes, and Prometheus metrics.
package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// App is the application name reported by / and used as the metric prefix.
const App = "platform-demo"

// unmatchedRoute is the route label of requests no endpoint matched, so that
// arbitrary paths never become label values.
const unmatchedRoute = "unmatched"

// Options configures a Server.
type Options struct {
	// Version is the build version reported by / and /version, e.g. "1a2b3c4".
	Version string
	// Started is when the process started, reported by /version: since
	// when this commit has been live here. Zero leaves it out.
	Started time.Time
	// Commit is the full source commit reported by / and /version.
	Commit string
	// Hostname is reported by /. It is read once by the caller, not per request.
	Hostname string
	// Message is the free text reported by /.
	Message string
	// Drain is how long Serve keeps serving after its context is done, with
	// /readyz answering 503, so that load balancers stop routing here before
	// the listener closes.
	Drain time.Duration
	// ShutdownTimeout bounds how long Serve waits for in-flight requests once
	// the drain is over. Zero means no bound.
	ShutdownTimeout time.Duration
	// Logger receives lifecycle logs, and one log per request at debug level.
	// Nil discards.
	Logger *slog.Logger
	// Now returns the current time for the "now" field of /. Nil means time.Now;
	// tests set it to pin the answer.
	Now func() time.Time
}

// Server holds the handlers, their metrics and the readiness state.
// Its zero value is not usable: create it with New.
type Server struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	ready atomic.Bool
	mux   *http.ServeMux

	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	metrics  http.Handler

	// versionBody never changes, so it is encoded once.
	versionBody []byte
	// rootCache holds the body of / for the current second: "now" has second
	// resolution, so one encoding serves every request within that second.
	rootCache atomic.Pointer[rootBody]
}

// handlerFunc is an endpoint. It returns the status code it wrote, which
// spares the instrumentation a wrapping ResponseWriter (one allocation) per
// request.
type handlerFunc func(w http.ResponseWriter, r *http.Request) int

// New returns a Server that is ready: /readyz answers 200 until Serve starts
// draining.
func New(opts Options) *Server {
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		mux:      http.NewServeMux(),
		registry: prometheus.NewRegistry(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ready.Store(true)
	started := ""
	if !opts.Started.IsZero() {
		started = opts.Started.UTC().Format(time.RFC3339)
	}
	s.versionBody = mustJSON(versionResponse{Version: opts.Version, Commit: opts.Commit, Started: started})

	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "platform_demo_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "platform_demo_http_request_duration_seconds",
		Help: "Time to serve an HTTP request, by route pattern and status code.",
		// The handlers answer in microseconds; the default buckets start at 5ms
		// and would put every request in the first bucket.
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
	}, []string{"route", "code"})
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "platform_demo_build_info",
		Help: "Build metadata of the running binary; the value is always 1.",
		ConstLabels: prometheus.Labels{
			"version":   opts.Version,
			"commit":    opts.Commit,
			"goversion": runtime.Version(),
		},
	})
	buildInfo.Set(1)
	s.registry.MustRegister(
		s.requests, s.duration, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.metrics = newMetricsHandler(s.registry)

	s.route("/{$}", "/", s.root, http.StatusOK)
	s.route("/version", "/version", s.version, http.StatusOK)
	s.route("/healthz", "/healthz", s.healthz, http.StatusOK)
	s.route("/readyz", "/readyz", s.readyz, http.StatusOK, http.StatusServiceUnavailable)
	s.route("/metrics", "/metrics", s.serveMetrics, http.StatusOK)
	// The catch-all keeps ServeMux from answering 404 in plain text.
	s.mux.Handle("/", s.instrument(unmatchedRoute, notFound, http.StatusNotFound))
	return s
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// route registers h for GET (and so HEAD) on pattern, and a JSON 405 for every
// other method on the same path; without the second pattern ServeMux would
// answer 405 in plain text. codes are the statuses h returns, whose metric
// series are resolved once here instead of on each request.
func (s *Server) route(pattern, label string, h handlerFunc, codes ...int) {
	s.mux.Handle("GET "+pattern, s.instrument(label, h, codes...))
	s.mux.Handle(pattern, s.instrument(label, methodNotAllowed, http.StatusMethodNotAllowed))
}

// series is the pair of metric children of one route and status code.
type series struct {
	code     int
	requests prometheus.Counter
	duration prometheus.Observer
}

// instrument counts and times every request to h under the route label.
func (s *Server) instrument(route string, h handlerFunc, codes ...int) http.Handler {
	known := make([]series, len(codes))
	for i, code := range codes {
		known[i] = s.series(route, code)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := h(w, r)
		elapsed := time.Since(start)
		found := false
		for i := range known {
			if known[i].code == code {
				known[i].requests.Inc()
				known[i].duration.Observe(elapsed.Seconds())
				found = true
				break
			}
		}
		if !found {
			other := s.series(route, code)
			other.requests.Inc()
			other.duration.Observe(elapsed.Seconds())
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("code", code),
				slog.Duration("duration", elapsed))
		}
	})
}

func (s *Server) series(route string, code int) series {
	c := strconv.Itoa(code)
	return series{
		code:     code,
		requests: s.requests.WithLabelValues(route, c),
		duration: s.duration.WithLabelValues(route, c),
	}
}

// Shared header values: assigning one of these slices to a header key avoids
// the allocation Header.Set makes per call. net/http copies headers before
// writing them and never changes the slices.
var (
	contentTypeJSON = []string{"application/json"}
	contentTypeText = []string{"text/plain; charset=utf-8"}
)

// write sends a complete response. Setting Content-Type also keeps net/http
// from sniffing the body.
func write(w http.ResponseWriter, contentType []string, code int, body []byte) int {
	w.Header()["Content-Type"] = contentType
	w.WriteHeader(code)
	// A failed write means the client went away; there is nobody to tell.
	_, _ = w.Write(body)
	return code
}

// mustJSON encodes v with a trailing newline, as curl users expect. It is
// only given structs of strings, whose encoding cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("encode " + err.Error())
	}
	return append(b, '\n')
}
