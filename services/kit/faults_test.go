package kit

import (
	"net/http"
	"testing"
	"time"
)

// TestFaults guards the fault switches: they fail the service's own
// endpoints as asked, and never the contract's, so that a bad version still
// answers its version and the pipeline can tell which one failed.
func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		faults   Faults
		path     string
		want500  int // of 200 requests, at least
		atMost   int // and at most
		minDelay time.Duration
	}{
		{name: "off", path: "/", want500: 0, atMost: 0},
		{name: "every request", faults: Faults{ErrorRate: 1}, path: "/", want500: 200, atMost: 200},
		// 10 % of 200: 20 expected; the bounds hold with overwhelming odds.
		{name: "one in ten", faults: Faults{ErrorRate: 0.1}, path: "/", want500: 3, atMost: 60},
		{name: "contract spared", faults: Faults{ErrorRate: 1}, path: "/version", want500: 0, atMost: 0},
		{name: "readiness spared", faults: Faults{ErrorRate: 1}, path: "/readyz", want500: 0, atMost: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.Faults = tt.faults
			h := newServer(opts).Handler()
			failed := 0
			for range 200 {
				switch got := do(t, h, http.MethodGet, tt.path); got.code {
				case http.StatusInternalServerError:
					failed++
				case http.StatusOK:
				default:
					t.Fatalf("GET %s = %d, want 200 or 500", tt.path, got.code)
				}
			}
			if failed < tt.want500 || failed > tt.atMost {
				t.Errorf("GET %s with %+v: %d of 200 answered 500, want %d to %d", tt.path, tt.faults, failed, tt.want500, tt.atMost)
			}
		})
	}
}

// TestFaultsDelay guards FAULT_DELAY: requests wait, up to the bound.
func TestFaultsDelay(t *testing.T) {
	opts := testOptions()
	opts.Faults = Faults{Delay: 20 * time.Millisecond}
	h := newServer(opts).Handler()
	start := time.Now()
	for range 20 {
		if got := do(t, h, http.MethodGet, "/"); got.code != http.StatusOK {
			t.Fatalf("GET / = %d, want 200", got.code)
		}
	}
	// 20 requests of a random delay in [0, 20ms): 200ms on average, and
	// never 400ms or more.
	if d := time.Since(start); d < 20*time.Millisecond || d >= 400*time.Millisecond+time.Second {
		t.Errorf("20 requests with FAULT_DELAY=20ms took %s, want about 200ms", d)
	}
}
