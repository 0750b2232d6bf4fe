package server

import (
	"encoding/json"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRoot(t *testing.T) {
	tests := []struct {
		name   string
		method string
	}{
		{name: "get", method: http.MethodGet},
		{name: "head", method: http.MethodHead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, New(testOptions()).Handler(), tt.method, "/")
			if got.code != http.StatusOK {
				t.Fatalf("%s / = %d, want %d", tt.method, got.code, http.StatusOK)
			}
			if got.contentType != "application/json" {
				t.Errorf("%s / Content-Type = %q, want %q", tt.method, got.contentType, "application/json")
			}
		})
	}
}

// TestRootBody guards the exact key set of /, which dashboards and the
// rollout check read.
func TestRootBody(t *testing.T) {
	got := do(t, New(testOptions()).Handler(), http.MethodGet, "/")
	var body map[string]string
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("GET / body %q is not a JSON object of strings: %v", got.body, err)
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
	opts := testOptions()
	opts.Now = func() time.Time { return *clock.Load() }
	h := New(opts).Handler()
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
			if err := json.Unmarshal([]byte(do(t, h, http.MethodGet, "/").body), &body); err != nil {
				t.Fatalf("decode GET /: %v", err)
			}
			if body.Now != tt.want {
				t.Errorf("GET / at %v: now = %q, want %q", tt.now, body.Now, tt.want)
			}
		})
	}
}
