package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakService is a stand-in of a kit service over real HTTP: /, /version
// (with its start time), /readyz and /metrics in the Prometheus text
// format, each of which a case makes misbehave.
type soakService struct {
	commit atomic.Value // string
	// fail says whether the n-th request to / (from 1) answers 500.
	fail func(n int64) bool
	// readyz is the status of /readyz; 0 means 200.
	readyz atomic.Int32
	// started is the process start time /version reports.
	started atomic.Value // time.Time
	// apiErrors grows the 500s of another route of the service, traffic
	// the probes do not make, by this much per read of /metrics.
	apiErrors int

	mu                    sync.Mutex
	n, rootOK, root5xx    int64
	apiOK, api5xx, scrape int64
}

func newSoakService(t *testing.T, s *soakService) *httptest.Server {
	t.Helper()
	s.commit.Store(testCommit)
	s.started.Store(time.Now().Add(-time.Minute).Truncate(time.Second))
	if s.fail == nil {
		s.fail = func(int64) bool { return false }
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.n++
		bad := s.fail(s.n)
		if bad {
			s.root5xx++
		} else {
			s.rootOK++
		}
		s.mu.Unlock()
		if bad {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, `{"message":"hello"}`)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"version":"abc1234","commit":%q,"started":%q}`, s.commit.Load(), s.started.Load().(time.Time).UTC().Format(time.RFC3339))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if code := s.readyz.Load(); code != 0 {
			w.WriteHeader(int(code))
		}
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.scrape++
		s.apiOK += 10
		s.api5xx += int64(s.apiErrors)
		fmt.Fprintf(w, `# HELP demo_http_requests_total HTTP requests served, by route pattern and status code.
# TYPE demo_http_requests_total counter
demo_http_requests_total{code="200",route="/"} %d
demo_http_requests_total{code="500",route="/"} %d
demo_http_requests_total{code="200",route="/api"} %d
demo_http_requests_total{code="500",route="/api"} %d
demo_http_requests_total{code="200",route="/version"} 12345
demo_http_requests_total{code="503",route="/readyz"} 777
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7e+09
`, s.rootOK, s.root5xx, s.apiOK, s.api5xx)
		s.mu.Unlock()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const testCommit = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// TestSoak shows each check failing and passing against a service over
// real HTTP.
func TestSoak(t *testing.T) {
	t.Parallel()
	const interval, rounds = 5 * time.Millisecond, 60
	tests := []struct {
		name string
		svc  *soakService
		// during changes the service after the soak began.
		during func(*soakService)
		health func(context.Context) (string, error)
		// check is the failed check; "" means the soak passes.
		check string
		// within bounds the rounds it may take to fail.
		within     int
		superseded bool
		want       func(t *testing.T, r SoakResult)
	}{
		{name: "healthy", svc: &soakService{}, want: func(t *testing.T, r SoakResult) {
			if r.Probes < rounds/2 || r.ProbeFailures != 0 || !r.MetricsRead || r.Requests < float64(r.Probes) || r.ServerErrors != 0 || !r.RestartChecked || r.Processes != 1 {
				t.Errorf("result = %+v, want about %d probes, none failed, the counters read, one process", r, rounds)
			}
		}},
		{name: "one 500 is a blip", svc: &soakService{fail: func(n int64) bool { return n == 3 }}, want: func(t *testing.T, r SoakResult) {
			if r.ProbeFailures != 1 {
				t.Errorf("probe failures = %d, want the 1 blip", r.ProbeFailures)
			}
		}},
		{name: "every request fails", svc: &soakService{fail: func(int64) bool { return true }}, check: CheckProbes, within: 2},
		{name: "one request in ten fails", svc: &soakService{fail: func(n int64) bool { return n%10 == 0 }}, check: CheckProbes, within: 20},
		{name: "real traffic fails", svc: &soakService{apiErrors: 2}, check: CheckMetrics, within: 2*scrapeEvery + 1},
		{name: "not ready", svc: &soakService{}, during: func(s *soakService) { s.readyz.Store(http.StatusServiceUnavailable) }, check: CheckReadyz, within: 3},
		{name: "restarted", svc: &soakService{}, during: func(s *soakService) { s.started.Store(time.Now().Add(2 * time.Second)) }, check: CheckRestart, within: 2},
		{name: "replaced by another deploy", svc: &soakService{}, during: func(s *soakService) { s.commit.Store(strings.Repeat("9", 40)) }, superseded: true},
		{name: "Argo CD degraded", svc: &soakService{}, health: func(context.Context) (string, error) { return "Degraded", nil }, check: CheckHealth, within: 1},
		{name: "Argo CD still progressing at the end", svc: &soakService{}, health: func(context.Context) (string, error) { return "Progressing", nil }, check: CheckHealth, within: rounds + scrapeEvery,
			want: func(t *testing.T, r SoakResult) {
				if r.RestartChecked {
					t.Errorf("restart checked before Argo CD read Healthy")
				}
			}},
		{name: "Argo CD healthy", svc: &soakService{}, health: func(context.Context) (string, error) { return "Healthy", nil }, want: func(t *testing.T, r SoakResult) {
			if r.Health != "Healthy" || !r.RestartChecked {
				t.Errorf("result = %+v, want Argo CD Healthy and the restart check on", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSoakService(t, tt.svc)
			opts := SoakOptions{URL: srv.URL, Commit: testCommit, Duration: rounds * interval, Interval: interval, MaxErrorRate: DefaultMaxErrorRate, OneProcess: tt.health == nil, Health: tt.health}
			if tt.during != nil {
				// The change comes after the first round, as a failure
				// that starts once the version is live.
				go func() {
					time.Sleep(2 * interval)
					tt.during(tt.svc)
				}()
			}
			res, err := Soak(context.Background(), opts)
			var breach *BreachError
			var sup *SupersededError
			switch {
			case tt.superseded:
				if !errors.As(err, &sup) || sup.Live != strings.Repeat("9", 40) {
					t.Fatalf("Soak() = %v, want a SupersededError naming the new commit", err)
				}
			case tt.check == "":
				if err != nil {
					t.Fatalf("Soak() = %v, want it to pass", err)
				}
			case !errors.As(err, &breach):
				t.Fatalf("Soak() = %v, want a BreachError of %s", err, tt.check)
			case breach.Check != tt.check:
				t.Fatalf("Soak() failed %s (%v), want %s", breach.Check, err, tt.check)
			case tt.during == nil && breach.Result.Rounds > tt.within:
				t.Errorf("Soak() failed after %d rounds, want within %d: %v", breach.Result.Rounds, tt.within, err)
			case tt.during != nil && breach.Result.Rounds > tt.within+4:
				// The change lands after about two rounds.
				t.Errorf("Soak() failed after %d rounds, want within %d of the change: %v", breach.Result.Rounds, tt.within, err)
			}
			if breach != nil {
				res = breach.Result
				if !strings.Contains(err.Error(), tt.check+": ") {
					t.Errorf("error %q does not name the check %s", err, tt.check)
				}
			}
			if tt.want != nil {
				tt.want(t, res)
			}
		})
	}
}

// TestSoakFigures guards the figures a breach names: the share and what
// is allowed, as a person reads them in the gitops commit.
func TestSoakFigures(t *testing.T) {
	t.Parallel()
	srv := newSoakService(t, &soakService{fail: func(int64) bool { return true }})
	_, err := Soak(context.Background(), SoakOptions{URL: srv.URL, Commit: testCommit, Duration: time.Second, Interval: 5 * time.Millisecond, MaxErrorRate: 0.05})
	want := "probes: 2 of 2 probes failed (100% > 5% allowed); the last GET / answered 500"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Soak() = %v, want it to say %q", err, want)
	}
}

func TestSoakOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts SoakOptions
		want string
	}{
		{"no URL", SoakOptions{Commit: testCommit}, "VERIFY_URL"},
		{"short commit", SoakOptions{URL: "http://127.0.0.1:1", Commit: "1a2b3c4"}, "40-character"},
		{"relative path", SoakOptions{URL: "http://127.0.0.1:1", Commit: testCommit, Paths: []string{"api"}}, `"api" does not start with /`},
		{"negative", SoakOptions{URL: "http://127.0.0.1:1", Commit: testCommit, Duration: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		_, err := Soak(context.Background(), tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Soak() = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// TestParseCountsKit reads /metrics as the service kit writes it
// (testdata/kit-metrics.txt, from platform-demo after three GETs of / and
// one of a path it does not serve): the contract's paths are left out.
func TestParseCountsKit(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/kit-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := parseCounts(f)
	if err != nil {
		t.Fatalf("parseCounts(kit) = %v", err)
	}
	if c.requests != 4 || c.errors != 0 {
		t.Errorf("parseCounts(kit) = %+v, want 4 requests (3 of /, 1 unmatched), none >= 500", c)
	}
	if _, err := parseCounts(strings.NewReader("# TYPE up gauge\nup 1\n")); err == nil {
		t.Errorf("parseCounts(no request counter) = nil error, want one")
	}
}
