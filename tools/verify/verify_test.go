package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	oldCommit = strings.Repeat("0a1b2c3d", 5)
	newCommit = strings.Repeat("9f8e7d6c", 5)
)

// Script steps other than a commit sha: how the service misbehaves on one poll.
const (
	status500 = "!500"
	htmlPage  = "!html"
	noCommit  = "!nocommit"
)

// scriptedService is a real HTTP server whose /version answers follow a
// script, one step per request; after the script it repeats the last step.
type scriptedService struct {
	*httptest.Server
	served   atomic.Int64
	newConns atomic.Int64
}

func newService(t *testing.T, prefix string, steps ...string) *scriptedService {
	t.Helper()
	s := &scriptedService{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Exact path: a doubled slash from a base URL with a trailing slash
		// would land here as "//version" and fail the poll.
		if r.Method != http.MethodGet || r.URL.Path != prefix+"/version" {
			http.NotFound(w, r)
			return
		}
		n := int(s.served.Add(1)) - 1
		step := steps[min(n, len(steps)-1)]
		switch step {
		case status500:
			http.Error(w, "upstream connect error", http.StatusInternalServerError)
		case htmlPage:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>Sign in</body></html>")
		case noCommit:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"version":"dev"}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"version":%q,"commit":%q}`, step[:7], step)
		}
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.newConns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// stepClock advances by step on every reading, so that the k-th poll happens
// k steps after the start, however long the real requests take.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func newClock() *stepClock {
	return &stepClock{t: time.Date(2026, 5, 8, 22, 0, 0, 0, time.UTC), step: time.Second}
}

// closedPort returns an http URL on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

func TestLive(t *testing.T) {
	tests := []struct {
		name        string
		steps       []string
		prefix      string // path the service is mounted under
		suffix      string // appended to the base URL given to Live
		commit      string // wanted commit when not newCommit
		consecutive int
		want        Result // Elapsed in clock steps: poll k is at k seconds
	}{
		{name: "live at once", steps: []string{newCommit},
			want: Result{Elapsed: 1 * time.Second, Polls: 3, LastLive: newCommit}},
		{name: "live after 2 old answers", steps: []string{oldCommit, oldCommit, newCommit},
			want: Result{Elapsed: 3 * time.Second, Polls: 5, LastLive: newCommit}},
		{name: "live after 5 old answers", steps: []string{oldCommit, oldCommit, oldCommit, oldCommit, oldCommit, newCommit},
			want: Result{Elapsed: 6 * time.Second, Polls: 8, LastLive: newCommit}},
		{name: "flapping old answer resets the streak", steps: []string{newCommit, newCommit, oldCommit, newCommit, newCommit, oldCommit, newCommit},
			want: Result{Elapsed: 7 * time.Second, Polls: 9, LastLive: newCommit}},
		{name: "failed polls are retried and reset the streak", steps: []string{newCommit, status500, newCommit, htmlPage, newCommit, noCommit, newCommit},
			want: Result{Elapsed: 7 * time.Second, Polls: 9, LastLive: newCommit}},
		{name: "one answer is enough when asked", steps: []string{oldCommit, newCommit}, consecutive: 1,
			want: Result{Elapsed: 2 * time.Second, Polls: 2, LastLive: newCommit}},
		{name: "base URL with trailing slash", steps: []string{newCommit}, suffix: "/",
			want: Result{Elapsed: 1 * time.Second, Polls: 3, LastLive: newCommit}},
		{name: "base URL with a path", steps: []string{newCommit}, prefix: "/demo", suffix: "/demo/",
			want: Result{Elapsed: 1 * time.Second, Polls: 3, LastLive: newCommit}},
		{name: "wanted commit in upper case", steps: []string{newCommit}, commit: strings.ToUpper(newCommit),
			want: Result{Elapsed: 1 * time.Second, Polls: 3, LastLive: newCommit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, tt.prefix, tt.steps...)
			commit := newCommit
			if tt.commit != "" {
				commit = tt.commit
			}
			opts := Options{
				URL:         svc.URL + tt.suffix,
				Commit:      commit,
				Consecutive: tt.consecutive,
				Interval:    time.Millisecond,
				Timeout:     time.Minute, // a safety net only; every case ends by its script
			}
			got, err := live(t.Context(), opts, newClock().now)
			if err != nil {
				t.Fatalf("Live(%q) error: %v", opts.URL, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Live(%q) result mismatch (-want +got):\n%s", opts.URL, diff)
			}
		})
	}
}

// TestLiveReusesConnection guards against leaking a connection per poll (a
// body left unread or unclosed), which on a long wait exhausts file
// descriptors and makes every poll pay a new handshake.
func TestLiveReusesConnection(t *testing.T) {
	svc := newService(t, "", oldCommit, oldCommit, oldCommit, oldCommit, status500, htmlPage, newCommit)
	res, err := Live(t.Context(), Options{URL: svc.URL, Commit: newCommit, Interval: time.Millisecond, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("Live: %v", err)
	}
	if res.Polls != 9 {
		t.Errorf("Live polls = %d, want 9", res.Polls)
	}
	if got := svc.newConns.Load(); got != 1 {
		t.Errorf("connections opened for %d polls = %d, want 1", res.Polls, got)
	}
}

func TestLiveGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		url          func(t *testing.T) string
		wantLastLive string
		wantLastErr  string // substring of TimeoutError.LastErr; empty means no error
		wantMessage  []string
	}{
		{
			name:         "another commit stays live",
			url:          func(t *testing.T) string { return newService(t, "", oldCommit).URL },
			wantLastLive: oldCommit,
			wantMessage:  []string{newCommit, oldCommit + " is live instead", "VERIFY_TIMEOUT"},
		},
		{
			name:         "service answered, then fails",
			url:          func(t *testing.T) string { return newService(t, "", oldCommit, status500).URL },
			wantLastLive: oldCommit,
			wantLastErr:  "500 Internal Server Error",
			wantMessage:  []string{newCommit, "last live commit was " + oldCommit, "500 Internal Server Error"},
		},
		{
			name:        "answers are never JSON",
			url:         func(t *testing.T) string { return newService(t, "", htmlPage).URL },
			wantLastErr: "not JSON",
			wantMessage: []string{newCommit, "never reported a commit", "not JSON", "VERIFY_URL"},
		},
		{
			name:        "connection refused",
			url:         closedPort,
			wantLastErr: "connection refused",
			wantMessage: []string{newCommit, "never reported a commit", "connection refused", "VERIFY_URL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The deadline is played by a cancellation with DeadlineExceeded
			// as its cause once enough polls were made, so the outcome does
			// not depend on how fast the machine is.
			const polls = 4
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			opts := Options{
				URL:           tt.url(t),
				Commit:        newCommit,
				Interval:      time.Millisecond,
				Timeout:       time.Minute,
				ProgressEvery: time.Nanosecond,
				Progress: func(s Status) {
					if s.Polls >= polls {
						cancel(context.DeadlineExceeded)
					}
				},
			}
			res, err := Live(ctx, opts)
			var te *TimeoutError
			if !errors.As(err, &te) {
				t.Fatalf("Live(%q) error = %v, want a *TimeoutError", opts.URL, err)
			}
			if te.Wanted != newCommit || te.LastLive != tt.wantLastLive || te.Polls != polls {
				t.Errorf("Live(%q) TimeoutError = {Wanted %s, LastLive %q, Polls %d}, want {%s, %q, %d}",
					opts.URL, te.Wanted, te.LastLive, te.Polls, newCommit, tt.wantLastLive, polls)
			}
			switch {
			case tt.wantLastErr == "" && te.LastErr != nil:
				t.Errorf("Live(%q) TimeoutError.LastErr = %v, want nil", opts.URL, te.LastErr)
			case tt.wantLastErr != "" && (te.LastErr == nil || !strings.Contains(te.LastErr.Error(), tt.wantLastErr)):
				t.Errorf("Live(%q) TimeoutError.LastErr = %v, want one containing %q", opts.URL, te.LastErr, tt.wantLastErr)
			}
			for _, s := range tt.wantMessage {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Live(%q) error = %q, want it to contain %q", opts.URL, err, s)
				}
			}
			if res.Polls != polls || res.LastLive != tt.wantLastLive {
				t.Errorf("Live(%q) result = %+v, want Polls %d and LastLive %q", opts.URL, res, polls, tt.wantLastLive)
			}
		})
	}
}

// TestLiveOwnTimeout checks that Options.Timeout ends the wait with a
// TimeoutError; how many polls fit in it is left open on purpose.
func TestLiveOwnTimeout(t *testing.T) {
	svc := newService(t, "", oldCommit)
	_, err := Live(t.Context(), Options{URL: svc.URL, Commit: newCommit, Interval: time.Millisecond, Timeout: 20 * time.Millisecond})
	var te *TimeoutError
	if !errors.As(err, &te) || te.Wanted != newCommit {
		t.Fatalf("Live with 20ms timeout error = %v, want a *TimeoutError for %s", err, newCommit)
	}
}

// TestLiveCanceled guards against reporting a caller's cancellation (Ctrl-C)
// as a rollout that did not happen in time.
func TestLiveCanceled(t *testing.T) {
	svc := newService(t, "", oldCommit)
	ctx, cancel := context.WithCancel(t.Context())
	opts := Options{
		URL: svc.URL, Commit: newCommit, Interval: time.Millisecond, Timeout: time.Minute,
		ProgressEvery: time.Nanosecond,
		Progress:      func(Status) { cancel() },
	}
	_, err := Live(ctx, opts)
	var te *TimeoutError
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Fatalf("Live after cancel error = %v, want context.Canceled and no *TimeoutError", err)
	}
	if !strings.Contains(err.Error(), oldCommit) {
		t.Errorf("Live after cancel error = %q, want it to name the last live commit %s", err, oldCommit)
	}
}

func TestLiveRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "empty URL", opts: Options{Commit: newCommit}, want: "set VERIFY_URL"},
		{name: "blank URL", opts: Options{URL: "  ", Commit: newCommit}, want: "local loop"},
		{name: "URL without scheme", opts: Options{URL: "platform-demo.example", Commit: newCommit}, want: "not an http(s) URL"},
		{name: "no commit", opts: Options{URL: "http://127.0.0.1:1"}, want: "git rev-parse HEAD"},
		{name: "short sha", opts: Options{URL: "http://127.0.0.1:1", Commit: newCommit[:7]}, want: "short sha"},
		{name: "not hex", opts: Options{URL: "http://127.0.0.1:1", Commit: "main"}, want: "not a 40-character hex sha"},
		{name: "too long", opts: Options{URL: "http://127.0.0.1:1", Commit: newCommit + "00"}, want: "not a 40-character hex sha"},
		{name: "negative interval", opts: Options{URL: "http://127.0.0.1:1", Commit: newCommit, Interval: -time.Second}, want: "negative setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Nothing listens on 127.0.0.1:1 here, and nothing must be asked:
			// a bad option fails before the first poll.
			res, err := Live(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Live(%+v) error = %v, want one containing %q", tt.opts, err, tt.want)
			}
			if res.Polls != 0 {
				t.Errorf("Live(%+v) polls = %d, want 0", tt.opts, res.Polls)
			}
		})
	}
	if _, err := Live(t.Context(), Options{Commit: newCommit}); !errors.Is(err, ErrNoURL) {
		t.Errorf("Live without URL error = %v, want ErrNoURL", err)
	}
}

func TestLiveProgressThrottle(t *testing.T) {
	// 12 old answers, then the new commit: polls 13 and 14 build the streak
	// and poll 15 completes it, so progress can be due at polls 1..14. Poll k
	// happens k seconds after the start.
	steps := append(repeat(oldCommit, 12), newCommit)
	tests := []struct {
		name      string
		every     time.Duration
		wantPolls []int // the Polls field of each reported Status
	}{
		{name: "default 5s", every: 0, wantPolls: []int{1, 6, 11}},
		{name: "every 3s", every: 3 * time.Second, wantPolls: []int{1, 4, 7, 10, 13}},
		{name: "every poll", every: time.Nanosecond, wantPolls: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}},
		{name: "once an hour", every: time.Hour, wantPolls: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, "", steps...)
			var got []int
			opts := Options{
				URL: svc.URL, Commit: newCommit, Interval: time.Millisecond, Timeout: time.Minute,
				ProgressEvery: tt.every,
				Progress:      func(s Status) { got = append(got, s.Polls) },
			}
			res, err := live(t.Context(), opts, newClock().now)
			if err != nil {
				t.Fatalf("Live: %v", err)
			}
			if res.Polls != 15 {
				t.Errorf("Live polls = %d, want 15", res.Polls)
			}
			if diff := cmp.Diff(tt.wantPolls, got); diff != "" {
				t.Errorf("progress reported at polls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLiveProgressStatus(t *testing.T) {
	svc := newService(t, "", oldCommit, oldCommit, status500, newCommit, newCommit, newCommit)
	// status mirrors Status with the error as text, which cmp can compare.
	type status struct {
		Live    string
		LiveFor time.Duration
		Streak  int
		Polls   int
		Elapsed time.Duration
		Err     string
	}
	var got []status
	opts := Options{
		URL: svc.URL, Commit: newCommit, Interval: time.Millisecond, Timeout: time.Minute,
		ProgressEvery: time.Nanosecond,
		Progress: func(s Status) {
			if s.Wanted != newCommit {
				t.Errorf("Status.Wanted = %q, want %q", s.Wanted, newCommit)
			}
			st := status{Live: s.Live, LiveFor: s.LiveFor, Streak: s.Streak, Polls: s.Polls, Elapsed: s.Elapsed}
			if s.Err != nil {
				st.Err = s.Err.Error()
			}
			got = append(got, st)
		},
	}
	if _, err := live(t.Context(), opts, newClock().now); err != nil {
		t.Fatalf("Live: %v", err)
	}
	errText := "get " + svc.URL + "/version: 500 Internal Server Error: \"upstream connect error\""
	want := []status{
		{Live: oldCommit, LiveFor: 0, Streak: 0, Polls: 1, Elapsed: 1 * time.Second},
		{Live: oldCommit, LiveFor: 1 * time.Second, Streak: 0, Polls: 2, Elapsed: 2 * time.Second},
		{Live: oldCommit, LiveFor: 2 * time.Second, Streak: 0, Polls: 3, Elapsed: 3 * time.Second, Err: errText},
		{Live: newCommit, LiveFor: 0, Streak: 1, Polls: 4, Elapsed: 4 * time.Second},
		{Live: newCommit, LiveFor: 1 * time.Second, Streak: 2, Polls: 5, Elapsed: 5 * time.Second},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reported statuses mismatch (-want +got):\n%s", diff)
	}
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		name string
		s    Status
		want string
	}{
		{
			name: "waiting",
			s:    Status{Wanted: newCommit, Live: oldCommit, LiveFor: 12 * time.Second, Streak: 0, Polls: 20, Elapsed: 40 * time.Second},
			want: "live 0a1b2c3 for 12s, want 9f8e7d6 (0 in a row), 40s elapsed, 20 polls",
		},
		{
			name: "nothing answered",
			s:    Status{Wanted: newCommit, Polls: 2, Elapsed: 4 * time.Second, Err: errors.New("connection refused")},
			want: "nothing answered yet, want 9f8e7d6 (0 in a row), 4s elapsed, 2 polls; latest poll failed: connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("Status.String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
