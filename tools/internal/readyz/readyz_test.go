package readyz

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := Wait(context.Background(), srv.URL, Options{Interval: time.Millisecond}); err != nil {
		t.Fatalf("Wait() = %v, want ready on the third poll", err)
	}
	if n := polls.Load(); n != 3 {
		t.Errorf("polls = %d, want 3: Wait must return at the first 200", n)
	}
}

// TestWaitStopsWhenNotAlive guards a rollout: a process that exits must end
// the wait at once, not at its deadline.
func TestWaitStopsWhenNotAlive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer srv.Close()
	exited := errors.New("process exited")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Wait(ctx, srv.URL, Options{Alive: func(context.Context) error { return exited }})
	if !errors.Is(err, exited) || ctx.Err() != nil {
		t.Errorf("Wait() = %v, want the Alive error before the deadline", err)
	}
}

func TestWaitTimeoutNamesLastAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer srv.Close()
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, errors.New("not ready after 50ms"))
	defer cancel()
	err := Wait(ctx, srv.URL+"/readyz", Options{})
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") || !strings.Contains(err.Error(), "not ready after 50ms") {
		t.Errorf("Wait() = %v, want the last answer and the cause", err)
	}
}
