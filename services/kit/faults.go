package kit

import (
	"math/rand/v2"
	"net/http"
	"time"
)

// Faults make the service's own endpoints misbehave on purpose, in the
// spirit of podinfo's --random-error and --random-delay, so that a version
// that fails its real requests can be shipped on purpose and the pipeline's
// soak seen to catch it. The contract's endpoints (/version, /healthz,
// /readyz, /metrics) never fail: a bad version still answers its version.
type Faults struct {
	// ErrorRate is the share of requests, from 0 to 1, answered 500.
	ErrorRate float64
	// Delay is the upper bound of a random delay added to each request.
	Delay time.Duration
	// CrashAfter ends the process with status 1 this long after it starts
	// serving; Main honours it.
	CrashAfter time.Duration
}

// faults applies Faults to a handler; nil when they are off.
type faults struct{ Faults }

var faultBody = []byte(`{"error":"fault injected: FAULT_ERROR_RATE"}` + "\n")

func newFaults(f Faults) *faults {
	if f.ErrorRate <= 0 && f.Delay <= 0 {
		return nil
	}
	return &faults{f}
}

func (f *faults) wrap(h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) int {
		if f.Delay > 0 {
			t := time.NewTimer(rand.N(f.Delay))
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
			return write(w, contentTypeJSON, http.StatusInternalServerError, faultBody)
		}
		return h(w, r)
	}
}
