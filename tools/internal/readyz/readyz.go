// Package readyz waits for a service that was just started to say it is
// ready: it polls an HTTP endpoint (the service's /readyz) until it answers
// 200. Polling is the only signal the service gives; the local rollout,
// podman and the bench all start the service and wait for it this way.
package readyz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"time"
)

// Options tune Wait.
type Options struct {
	// Interval is the time between two polls. Startup takes tens of
	// milliseconds, so the default is 10ms.
	Interval time.Duration
	// Alive, when set, tells whether what serves the endpoint still runs;
	// its error ends the wait at once instead of at the deadline.
	Alive func(context.Context) error
	// AliveEvery is the least time between two calls of Alive, for checks
	// that cost a process (podman inspect). Zero asks at every poll.
	AliveEvery time.Duration
}

// Wait polls url until it answers 200, ctx ends, or Alive fails. Each poll
// is bounded by a second. The error names the last answer or failure.
func Wait(ctx context.Context, url string, opts Options) error {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Millisecond
	}
	// No keep-alive: the process polled is often replaced right after.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	last := "none yet"
	var checked time.Time
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else if ctx.Err() == nil {
			// *url.Error repeats the method and URL, named below already.
			var uerr *neturl.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			last = err.Error()
		}
		if opts.Alive != nil && time.Since(checked) >= opts.AliveEvery {
			checked = time.Now()
			if err := opts.Alive(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (last answer: %s): %w", url, last, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
