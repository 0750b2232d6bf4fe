// Package verify proves that a commit is live: it polls the running service's
// /version endpoint until the commit reported there is the wanted one, several
// answers in a row.
package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultConsecutive   = 3
	DefaultInterval      = 2 * time.Second
	DefaultTimeout       = 10 * time.Minute
	DefaultProgressEvery = 5 * time.Second
	// LocalInterval is the interval for a service on this machine (the
	// local rollout), which goes live in milliseconds, not minutes.
	LocalInterval = 200 * time.Millisecond
)

// ErrNoURL is returned when Options.URL is empty.
var ErrNoURL = errors.New("no service URL to verify: set VERIFY_URL to the base URL of the running service " +
	"(its /version endpoint is polled), or use the local loop (GITOPS_REPO unset), " +
	"which runs the service itself")

// Options says what to wait for and where.
type Options struct {
	// URL is the base URL of the running service, e.g. http://platform-demo.example;
	// "/version" is appended. A trailing slash is allowed.
	URL string
	// Commit is the full 40-character sha that must be live. Short shas are
	// refused: the service reports the full sha, and a prefix could name two
	// commits.
	Commit string
	// Consecutive is how many answers in a row must report Commit, so that a
	// rollout still in progress (old and new pods behind one Service) is not
	// taken for done. Zero means DefaultConsecutive.
	Consecutive int
	// Interval is the time between the starts of two polls. Zero means
	// DefaultInterval.
	Interval time.Duration
	// Timeout bounds the whole wait. Zero means DefaultTimeout.
	Timeout time.Duration
	// Progress, when set, receives a Status after a poll, at most once per
	// ProgressEvery (the first poll always reports). It runs on Live's
	// goroutine, so it should return quickly.
	Progress func(Status)
	// ProgressEvery is the least time between two Progress calls. Zero means
	// DefaultProgressEvery.
	ProgressEvery time.Duration
	// HTTPClient makes the requests. Nil means a client of Live's own whose
	// connections are reused across polls and closed when Live returns.
	HTTPClient *http.Client
}

// Status is what Live knows while it waits.
type Status struct {
	// Wanted is the commit Live waits for.
	Wanted string
	// Live is the commit of the latest answer; empty until the service answers.
	Live string
	// LiveFor is how long the answers have reported Live without a change.
	LiveFor time.Duration
	// Streak is the number of answers in a row that reported Wanted.
	Streak int
	// Polls counts the polls so far, failed ones included.
	Polls int
	// Elapsed is the time since Live started.
	Elapsed time.Duration
	// Err is the error of the latest poll; nil when it answered.
	Err error
}

// String reads as one progress line, e.g.
// "live 1a2b3c4 for 12s, want 5d6e7f8 (0/3 in a row), 40s elapsed".
func (s Status) String() string {
	var b strings.Builder
	if s.Live == "" {
		b.WriteString("nothing answered yet")
	} else {
		fmt.Fprintf(&b, "live %s for %s", short(s.Live), s.LiveFor.Round(time.Second))
	}
	fmt.Fprintf(&b, ", want %s (%d in a row), %s elapsed, %d polls", short(s.Wanted), s.Streak, s.Elapsed.Round(time.Second), s.Polls)
	if s.Err != nil {
		fmt.Fprintf(&b, "; latest poll failed: %v", s.Err)
	}
	return b.String()
}

// Result describes a successful wait.
type Result struct {
	// Elapsed is the time from the start of Live to the first of the
	// consecutive answers that reported the wanted commit: time to live.
	Elapsed time.Duration
	// Polls counts every poll made, failed ones included.
	Polls int
	// LastLive is the commit of the latest answer.
	LastLive string
}

// TimeoutError is returned when the wanted commit was not proven live in time.
type TimeoutError struct {
	// Wanted is the commit that was waited for.
	Wanted string
	// LastLive is the commit of the latest answer; empty if nothing answered.
	LastLive string
	// LastErr is the error of the latest failed poll, if any.
	LastErr error
	// Streak is the number of answers in a row that reported Wanted at the end.
	Streak int
	// Consecutive is the number of answers in a row that was required.
	Consecutive int
	// Waited is how long Live waited.
	Waited time.Duration
	// Polls counts the polls made.
	Polls int
}

func (e *TimeoutError) Error() string {
	head := fmt.Sprintf("commit %s not live after %s (%d polls)", e.Wanted, e.Waited.Round(time.Millisecond), e.Polls)
	const next = "check the rollout (did the gitops bump land, did Argo CD sync, does the new pod start?) or raise VERIFY_TIMEOUT"
	switch {
	case e.LastLive == "" && e.LastErr != nil:
		return fmt.Sprintf("%s: the service never reported a commit; last error: %v; check VERIFY_URL and that the service is reachable from here", head, e.LastErr)
	case e.LastLive == "":
		return fmt.Sprintf("%s: the service never reported a commit; check VERIFY_URL", head)
	case e.LastLive == e.Wanted:
		return fmt.Sprintf("%s: it answered, but only %d of %d times in a row (a rollout still flapping between versions, or failing polls)", head, e.Streak, e.Consecutive)
	case e.LastErr != nil:
		return fmt.Sprintf("%s: last live commit was %s, and the latest poll failed: %v; %s", head, e.LastLive, e.LastErr, next)
	default:
		return fmt.Sprintf("%s: %s is live instead; %s", head, e.LastLive, next)
	}
}

// errTimedOut is the cause Live gives its own deadline, to tell it apart from
// a cancellation by the caller.
var errTimedOut = errors.New("verify timeout")

// Live polls the service's /version until it reports opts.Commit in
// opts.Consecutive answers in a row. Connection errors, non-200 answers and
// bodies that are not JSON count as failed polls: they are reported through
// opts.Progress, break the streak, and are retried until the timeout. The
// Result is filled as far as the wait got, also when an error is returned.
func Live(ctx context.Context, opts Options) (Result, error) {
	return live(ctx, opts, time.Now)
}

// live is Live with an injectable clock, so that tests can check time
// arithmetic (progress throttling, time to live) without timed assertions.
func live(ctx context.Context, opts Options, now func() time.Time) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	endpoint, err := versionURL(opts.URL)
	if err != nil {
		return Result{}, err
	}
	client := opts.HTTPClient
	if client == nil {
		client = newClient()
		defer client.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout, errTimedOut)
	defer cancel()
	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	perRequest := requestTimeout(opts.Interval)

	var (
		res          Result
		st           = Status{Wanted: opts.Commit}
		liveSince    time.Time
		streakStart  time.Time
		lastProgress time.Time
		reported     bool
	)
	start := now()
	for {
		v, err := poll(ctx, client, endpoint, perRequest)
		if err != nil && ctx.Err() != nil {
			// The wait itself ended during this request: that is not news
			// about the service.
			return res, stopped(ctx, opts, st, now().Sub(start))
		}
		t := now()
		res.Polls++
		st.Polls = res.Polls
		st.Elapsed = t.Sub(start)
		if err != nil {
			st.Err = err
			st.Streak = 0
		} else {
			st.Err = nil
			commit := strings.ToLower(strings.TrimSpace(v.Commit))
			if commit != st.Live || liveSince.IsZero() {
				st.Live, liveSince = commit, t
			}
			if commit == opts.Commit {
				if st.Streak == 0 {
					streakStart = t
				}
				st.Streak++
			} else {
				st.Streak = 0
			}
			res.LastLive = st.Live
		}
		if !liveSince.IsZero() {
			st.LiveFor = t.Sub(liveSince)
		}
		if st.Streak >= opts.Consecutive {
			res.Elapsed = streakStart.Sub(start)
			return res, nil
		}
		if opts.Progress != nil && (!reported || t.Sub(lastProgress) >= opts.ProgressEvery) {
			opts.Progress(st)
			reported, lastProgress = true, t
		}
		select {
		case <-ctx.Done():
			return res, stopped(ctx, opts, st, now().Sub(start))
		case <-ticker.C:
		}
	}
}

// stopped explains why the wait ended early: Live's own deadline or the
// caller's becomes a TimeoutError naming what was live; a cancellation keeps
// its cause.
func stopped(ctx context.Context, opts Options, st Status, waited time.Duration) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, errTimedOut) || errors.Is(cause, context.DeadlineExceeded) {
		return &TimeoutError{
			Wanted:      opts.Commit,
			LastLive:    st.Live,
			LastErr:     st.Err,
			Streak:      st.Streak,
			Consecutive: opts.Consecutive,
			Waited:      waited,
			Polls:       st.Polls,
		}
	}
	live := st.Live
	if live == "" {
		live = "none yet"
	}
	return fmt.Errorf("verify commit %s: stopped after %s (last live: %s): %w", opts.Commit, waited.Round(time.Millisecond), live, cause)
}

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

var hexPattern = regexp.MustCompile(`^[0-9a-f]+$`)

func (o Options) withDefaults() (Options, error) {
	if strings.TrimSpace(o.URL) == "" {
		return o, ErrNoURL
	}
	commit := strings.ToLower(strings.TrimSpace(o.Commit))
	switch {
	case commit == "":
		return o, errors.New("verify: no commit given: pass the full sha to wait for (git rev-parse HEAD)")
	case shaPattern.MatchString(commit):
	case hexPattern.MatchString(commit) && len(commit) < 40:
		return o, fmt.Errorf("verify: commit %q is a short sha: pass the full 40-character sha (git rev-parse %s), because the service reports the full one", o.Commit, commit)
	default:
		return o, fmt.Errorf("verify: commit %q is not a 40-character hex sha: pass the full sha (git rev-parse HEAD)", o.Commit)
	}
	o.Commit = commit
	if o.Consecutive < 0 || o.Interval < 0 || o.Timeout < 0 || o.ProgressEvery < 0 {
		return o, fmt.Errorf("verify: negative setting (consecutive %d, interval %s, timeout %s, progress every %s): use zero for the default", o.Consecutive, o.Interval, o.Timeout, o.ProgressEvery)
	}
	if o.Consecutive == 0 {
		o.Consecutive = DefaultConsecutive
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	return o, nil
}

// requestTimeout bounds one poll: about one interval, so a hung request does
// not hold up the next poll for long, but at least a second, so that a
// sub-second interval (the local loop polls every ~200ms) does not turn a
// healthy but momentarily slow service into a failed poll, and at most 5s.
func requestTimeout(interval time.Duration) time.Duration {
	return min(max(interval, time.Second), 5*time.Second)
}

// newClient returns a client with its own transport, so that the connection
// to the service is kept alive across polls and closed with the client.
func newClient() *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{}
	}
	t.MaxIdleConnsPerHost = 4
	return &http.Client{Transport: t}
}

// short returns the 7-character form of a sha for display; other strings are
// returned as they are.
func short(sha string) string {
	if len(sha) > 7 && hexPattern.MatchString(sha) {
		return sha[:7]
	}
	return sha
}
