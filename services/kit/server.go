package kit

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// unmatchedRoute is the route label of requests no endpoint matched, so that
// arbitrary paths never become label values.
const unmatchedRoute = "unmatched"

// Options configures a Server.
type Options struct {
	// Name is the service's name: the prefix of its metrics ("hello-world"
	// counts hello_world_http_requests_total).
	Name string
	// Version is the build version reported by /version, e.g. "1a2b3c4".
	Version string
	// Commit is the full source commit reported by /version.
	Commit string
	// Started is when the process started, reported by /version: since
	// when this commit has been live here. Zero leaves it out.
	Started time.Time
	// Drain is how long Serve keeps serving after its context is done, with
	// /readyz answering 503, so that load balancers stop routing here before
	// the listener closes.
	Drain time.Duration
	// ShutdownTimeout bounds how long Serve waits for in-flight requests once
	// the drain is over. Zero means no bound.
	ShutdownTimeout time.Duration
	// Faults makes the service's own endpoints fail on purpose (never those
	// of the contract); the zero value is off.
	Faults Faults
	// Logger receives lifecycle logs, and one log per request at debug level.
	// Nil discards.
	Logger *slog.Logger
}

// HandlerFunc is an endpoint that returns the status code it wrote, which
// spares the instrumentation a wrapping ResponseWriter (one allocation) per
// request.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) int

// Server holds the handlers, their metrics and the readiness state.
// Its zero value is not usable: create it with New.
type Server struct {
	opts   Options
	log    *slog.Logger
	ready  atomic.Bool
	mux    *http.ServeMux
	faults *faults

	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	metrics  http.Handler

	// versionBody never changes, so it is encoded once.
	versionBody []byte
}

// MetricPrefix is the prefix of a service's metrics: its name with every
// character a metric name cannot hold turned into an underscore.
func MetricPrefix(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// New returns a Server that answers the contract's endpoints and is ready:
// /readyz answers 200 until Serve starts draining. The service adds its own
// endpoints with HandleFunc or Handle before Serve.
func New(opts Options) *Server {
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		mux:      http.NewServeMux(),
		registry: prometheus.NewRegistry(),
		faults:   newFaults(opts.Faults),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ready.Store(true)
	started := ""
	if !opts.Started.IsZero() {
		started = opts.Started.UTC().Format(time.RFC3339)
	}
	s.versionBody = MustJSON(Version{Version: opts.Version, Commit: opts.Commit, Started: started})

	prefix := MetricPrefix(opts.Name)
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prefix + "_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: prefix + "_http_request_duration_seconds",
		Help: "Time to serve an HTTP request, by route pattern and status code.",
		// The handlers answer in microseconds; the default buckets start at 5ms
		// and would put every request in the first bucket.
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
	}, []string{"route", "code"})
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: prefix + "_build_info",
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

	s.route(VersionPath, s.version, false, http.StatusOK)
	s.route(HealthzPath, s.healthz, false, http.StatusOK)
	s.route(ReadyzPath, s.readyz, false, http.StatusOK, http.StatusServiceUnavailable)
	s.route(MetricsPath, s.serveMetrics, false, http.StatusOK)
	// The catch-all keeps ServeMux from answering 404 in plain text.
	s.mux.Handle("/", s.instrument(unmatchedRoute, notFound, http.StatusNotFound))
	return s
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// HandleFunc registers one of the service's endpoints for GET (and so HEAD)
// on pattern (a ServeMux pattern without a method, such as "/{$}" or
// "/items/{id}"), counted and timed under the pattern as its route label;
// any other method answers a JSON 405. codes are the statuses h returns
// most, whose metric series are made once here rather than per request.
func (s *Server) HandleFunc(pattern string, h HandlerFunc, codes ...int) {
	if len(codes) == 0 {
		codes = []int{http.StatusOK}
	}
	s.route(pattern, h, true, codes...)
}

// Handle registers an http.Handler as HandleFunc does; its status is read
// through a wrapping ResponseWriter.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) int {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		return rec.code
	})
}

// route registers h for GET (and so HEAD) on pattern, and a JSON 405 for every
// other method on the same path; without the second pattern ServeMux would
// answer 405 in plain text. own marks the service's endpoints, which the
// fault switches apply to.
func (s *Server) route(pattern string, h HandlerFunc, own bool, codes ...int) {
	label := strings.TrimSuffix(pattern, "{$}")
	if own && s.faults != nil {
		h = s.faults.wrap(h)
	}
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
func (s *Server) instrument(route string, h HandlerFunc, codes ...int) http.Handler {
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

// WriteJSON sends a complete JSON response and returns code, for a
// HandlerFunc to return. Setting Content-Type also keeps net/http from
// sniffing the body.
func WriteJSON(w http.ResponseWriter, code int, body []byte) int {
	return write(w, contentTypeJSON, code, body)
}

// WriteText sends a complete plain-text response and returns code.
func WriteText(w http.ResponseWriter, code int, body []byte) int {
	return write(w, contentTypeText, code, body)
}

func write(w http.ResponseWriter, contentType []string, code int, body []byte) int {
	w.Header()["Content-Type"] = contentType
	w.WriteHeader(code)
	// A failed write means the client went away; there is nobody to tell.
	_, _ = w.Write(body)
	return code
}

// MustJSON encodes v with a trailing newline, as curl users expect. Give it
// only values whose encoding cannot fail, such as structs of strings.
func MustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("encode " + err.Error())
	}
	return append(b, '\n')
}
