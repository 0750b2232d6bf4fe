package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/verify"
)

const verifyGroup = "4 verify (detection of a new live version)"

// verifyConsecutive is the streak verify waits for, the pipeline's default.
const verifyConsecutive = 3

// verify measures the delay between a new version going live and verify
// noticing it: a loopback server answers /version with the old commit until
// a known instant, then with the new one, while verify.Live polls it at the
// local loop's interval.
func (b *bencher) verify(ctx context.Context) error {
	const (
		oldCommit = "1111111111111111111111111111111111111111"
		newCommit = "2222222222222222222222222222222222222222"
	)
	interval := verify.LocalInterval
	// flipped makes the new commit live.
	var flipped atomic.Bool
	// seen is when the server first answered with the new commit: the
	// moment verify's poll got it, independent of when verify's goroutine
	// was scheduled.
	var seen atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the verify target: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			c := oldCommit
			if flipped.Load() {
				c = newCommit
				seen.CompareAndSwap(0, time.Now().UnixNano())
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"version":%q,"commit":%q}`+"\n", c[:7], c)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String()

	var noticed, confirmed []float64
	for i := range b.opts.Runs {
		flipped.Store(false)
		seen.Store(0)
		// The flips land at phases of the poll interval spread evenly over
		// it, each half a step away from a poll: a flip at the very instant
		// of a poll would measure scheduler jitter (did the poll go just
		// before or just after?), not verify.
		phase := (float64(i) + 0.5) / float64(b.opts.Runs)
		flipAfter := 2*interval + time.Duration(phase*float64(interval))
		type outcome struct {
			res verify.Result
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			res, err := verify.Live(ctx, verify.Options{
				URL: url, Commit: newCommit, Consecutive: verifyConsecutive,
				Interval: interval, Timeout: 30 * time.Second,
			})
			done <- outcome{res, err}
		}()
		timer := time.NewTimer(flipAfter)
		var flip time.Time
		select {
		case <-timer.C:
			// The clock is read first, so that no answer can carry the new
			// commit before the recorded flip.
			flip = time.Now()
			flipped.Store(true)
		case o := <-done:
			timer.Stop()
			return fmt.Errorf("verify.Live returned before the new version went live: %+v, %v", o.res, o.err)
		}
		o := <-done
		returned := time.Now()
		if o.err != nil {
			return fmt.Errorf("verify.Live: %w", o.err)
		}
		if seen.Load() == 0 {
			return errors.New("verify.Live returned without polling the new version")
		}
		n := time.Unix(0, seen.Load()).Sub(flip)
		noticed = append(noticed, seconds(n))
		confirmed = append(confirmed, seconds(returned.Sub(flip)))
		b.progress(Verify, i, "noticed %s after the flip, returned after %s", n.Round(time.Millisecond), returned.Sub(flip).Round(time.Millisecond))
	}
	intervalM := newMeasure(verifyGroup, "poll interval", UnitSeconds, []float64{seconds(interval)}, nil, nil)
	noticedM := newMeasure(verifyGroup, "live → first poll that sees it", UnitSeconds, noticed, &intervalM, &Goal{OnRatio: true, Limit: 1, Worst: true})
	confirmedM := newMeasure(verifyGroup, fmt.Sprintf("live → verify.Live returns (%d in a row)", verifyConsecutive), UnitSeconds, confirmed, &intervalM, nil)
	confirmedM.Note = "includes the confirming polls"
	intervalM.Name += " (local loop)"
	b.add(noticedM, confirmedM, intervalM.sub())
	return nil
}
