package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testRoot is a root with values easy to spot in answers.
func testRoot() *root {
	return &root{
		version: "1a2b3c4", commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		hostname: "pod-1", message: "hello",
		now: func() time.Time { return time.Date(2026, 5, 8, 22, 8, 15, 0, time.UTC) },
	}
}

// get sends GET / to h and returns the recorder.
func get(h *root) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.serve(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec
}

// TestRootBody guards the exact key set of /, which dashboards and the
// rollout check read.
func TestRootBody(t *testing.T) {
	rec := get(testRoot())
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET / = %d %q, want 200 application/json", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET / body %q is not a JSON object of strings: %v", rec.Body, err)
	}
	want := map[string]string{
		"app":       "platform-demo",
		"version":   "1a2b3c4",
		"commit":    "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		"hostname":  "pod-1",
		"goVersion": runtime.Version(),
		"now":       "2026-05-08T22:08:15Z",
		"message":   "hello",
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("GET / body mismatch (-want +got):\n%s", diff)
	}
}

// TestRootNow guards the per-second cache of /: "now" must follow the clock,
// in UTC whatever the zone of the clock.
func TestRootNow(t *testing.T) {
	var clock atomic.Pointer[time.Time]
	h := testRoot()
	h.now = func() time.Time { return *clock.Load() }
	paris := time.FixedZone("CEST", 2*60*60)

	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		{name: "first", now: time.Date(2026, 5, 8, 22, 8, 15, 0, time.UTC), want: "2026-05-08T22:08:15Z"},
		{name: "same second", now: time.Date(2026, 5, 8, 22, 8, 15, 900, time.UTC), want: "2026-05-08T22:08:15Z"},
		{name: "next second", now: time.Date(2026, 5, 8, 22, 8, 16, 0, time.UTC), want: "2026-05-08T22:08:16Z"},
		{name: "other zone", now: time.Date(2026, 5, 9, 0, 8, 17, 0, paris), want: "2026-05-08T22:08:17Z"},
		{name: "clock back", now: time.Date(2026, 5, 8, 22, 8, 15, 0, time.UTC), want: "2026-05-08T22:08:15Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Store(&tt.now)
			var body struct{ Now string }
			if err := json.Unmarshal(get(h).Body.Bytes(), &body); err != nil {
				t.Fatalf("decode GET /: %v", err)
			}
			if body.Now != tt.want {
				t.Errorf("GET / at %v: now = %q, want %q", tt.now, body.Now, tt.want)
			}
		})
	}
}
