package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/andrelair-platform/platform-demo/services/kit/contract"
)

// Defaults of a soak, for the zero values of SoakOptions.
const (
	DefaultSoak         = time.Minute
	DefaultSoakInterval = time.Second
	// LocalSoak and LocalSoakInterval are the local loop's: about sixty
	// probes of each path in three seconds, as many as a production soak
	// makes in a minute, so that push to verdict stays a few seconds.
	LocalSoak         = 3 * time.Second
	LocalSoakInterval = 50 * time.Millisecond
	// DefaultMaxErrorRate is the share of failed answers a soak allows.
	DefaultMaxErrorRate = 0.01
	// Strikes is how many failures of one check it takes to fail a soak,
	// whatever the share: one lost answer is a blip, two are a pattern.
	Strikes = 2
	// scrapeEvery is how many probe rounds go between two reads of
	// /metrics and of the Argo CD health.
	scrapeEvery = 10
)

// Checks a soak makes, as a BreachError names them.
const (
	CheckProbes  = "probes"
	CheckMetrics = "metrics"
	CheckReadyz  = "readyz"
	CheckRestart = "restart"
	CheckHealth  = "health"
)

// SoakOptions says what to watch, how long and how hard.
type SoakOptions struct {
	// URL is the base URL of the service, as for Live.
	URL string
	// Commit is the full sha that went live and must stay live.
	Commit string
	// Duration is how long the soak watches; zero means DefaultSoak.
	Duration time.Duration
	// Interval is the time between two probe rounds; zero means
	// DefaultSoakInterval.
	Interval time.Duration
	// Paths are the service's own paths each round GETs ("/" when empty).
	Paths []string
	// MaxErrorRate is the share of answers >= 500 (or no answer) allowed
	// among the probes, and among the service's own requests as /metrics
	// counts them; negative means DefaultMaxErrorRate, and a check fails
	// only from Strikes failures on.
	MaxErrorRate float64
	// Health, when set, returns the Argo CD health of the application
	// ("Healthy", "Progressing", "Degraded"...): Degraded or Missing fails
	// the soak, and it must read Healthy at the end. The restart check
	// starts once it reads Healthy, when the rollout has started every pod.
	Health func(context.Context) (string, error)
	// OneProcess says one process serves URL (the local loop), so that any
	// process that starts after the soak began is a restart. Elsewhere the
	// restart check waits for Health to read Healthy: before that, a new
	// process may be the rollout's last pod.
	OneProcess bool
	// HTTPClient makes the requests; nil means a client of the soak's own.
	HTTPClient *http.Client
}

// SoakResult is what a soak saw.
type SoakResult struct {
	// Elapsed is how long it watched.
	Elapsed time.Duration
	// Rounds counts the probe rounds.
	Rounds int
	// Probes and ProbeFailures count the requests to the probe paths and
	// those answered >= 500 or not at all.
	Probes, ProbeFailures int
	// Requests and ServerErrors are what the service's own counters (its
	// *_http_requests_total, the contract's paths left out) grew by: real
	// traffic and the probes. MetricsRead is false when /metrics could not
	// be read or holds no such counter.
	Requests, ServerErrors float64
	MetricsRead            bool
	// ReadyzFailures counts the answers of /readyz other than 200.
	ReadyzFailures int
	// Processes counts the distinct start times /version reported;
	// RestartChecked is false where restarts cannot be told apart from a
	// rollout still starting pods (no Argo CD health, several replicas).
	Processes      int
	RestartChecked bool
	// Health is the last Argo CD health read; empty without Argo CD.
	Health string
}

// String is the figures on one line, as a summary and a verdict record
// them.
func (r SoakResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d probes, %d failed", r.Elapsed.Round(10*time.Millisecond), r.Probes, r.ProbeFailures)
	if r.MetricsRead {
		fmt.Fprintf(&b, "; /metrics %.0f requests, %.0f >= 500", r.Requests, r.ServerErrors)
	} else {
		b.WriteString("; /metrics not read")
	}
	fmt.Fprintf(&b, "; /readyz %d not 200", r.ReadyzFailures)
	if r.RestartChecked {
		b.WriteString("; no restart")
	}
	if r.Health != "" {
		b.WriteString("; Argo CD " + r.Health)
	}
	return b.String()
}

// BreachError is a soak that failed a check.
type BreachError struct {
	// Check is the check that failed (CheckProbes, CheckMetrics...).
	Check string
	// Detail gives its figures, e.g. "2 of 2 answers of / were 500 (100% >
	// 1%)".
	Detail string
	// After is when it failed, from the start of the soak.
	After time.Duration
	// Result is what the soak saw until then.
	Result SoakResult
}

func (e *BreachError) Error() string {
	return fmt.Sprintf("soak failed after %s: %s: %s", e.After.Round(10*time.Millisecond), e.Check, e.Detail)
}

// SupersededError ends a soak whose service answers another commit: a
// newer deploy or a rollback replaced it, which is no verdict on it.
type SupersededError struct {
	Commit, Live string
}

func (e *SupersededError) Error() string {
	return fmt.Sprintf("%s answers now instead of %s: another deploy replaced it during the soak, so it has no verdict", short(e.Live), short(e.Commit))
}

// Soak watches a service that went live for opts.Duration: each round it
// GETs the probe paths, /version (which must keep reporting opts.Commit
// and the same processes) and /readyz; every few rounds it reads /metrics
// (with the Prometheus exposition-format parser) and the Argo CD health.
// It returns as soon as a check fails, with a *BreachError that names it
// and its figures, so that a version that fails every request is caught
// within two rounds.
func Soak(ctx context.Context, opts SoakOptions) (SoakResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return SoakResult{}, err
	}
	client := opts.HTTPClient
	if client == nil {
		client = newClient()
		defer client.CloseIdleConnections()
	}
	w := &watch{opts: opts, client: client, start: time.Now(), timeout: requestTimeout(opts.Interval), starts: map[time.Time]bool{}}
	w.res.RestartChecked = opts.OneProcess
	if err := w.scrape(ctx, true); err != nil {
		return w.res, err
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	deadline := time.NewTimer(opts.Duration)
	defer deadline.Stop()
	for {
		if err := w.round(ctx); err != nil {
			return w.res, err
		}
		if w.res.Rounds%scrapeEvery == 0 {
			if err := w.scrape(ctx, false); err != nil {
				return w.res, err
			}
		}
		select {
		case <-ctx.Done():
			return w.res, fmt.Errorf("soak of %s stopped after %s: %w", short(opts.Commit), time.Since(w.start).Round(time.Millisecond), context.Cause(ctx))
		case <-deadline.C:
			if err := w.scrape(ctx, false); err != nil {
				return w.res, err
			}
			if w.opts.Health != nil && w.res.Health != "Healthy" {
				return w.res, w.breach(CheckHealth, fmt.Sprintf("Argo CD reports %s, not Healthy, at the end of the soak", orNone(w.res.Health)))
			}
			w.res.Elapsed = time.Since(w.start)
			return w.res, nil
		case <-tick.C:
		}
	}
}

// watch is the state of one soak.
type watch struct {
	opts    SoakOptions
	client  *http.Client
	start   time.Time
	timeout time.Duration
	res     SoakResult
	// starts are the process start times /version reported; since is the
	// service's own clock (its Date header) when the restart check began.
	starts       map[time.Time]bool
	since        time.Time
	readyzStreak int
	otherStreak  int
	// base is the counters at the start; nil when /metrics is not read.
	base *counts
}

func (w *watch) breach(check, detail string) error {
	w.res.Elapsed = time.Since(w.start)
	return &BreachError{Check: check, Detail: detail, After: w.res.Elapsed, Result: w.res}
}

// round makes one round of probes.
func (w *watch) round(ctx context.Context) error {
	w.res.Rounds++
	for _, p := range w.opts.Paths {
		code, err := w.get(ctx, p)
		if ctx.Err() != nil {
			return nil // the caller reports the end
		}
		w.res.Probes++
		if err != nil || code >= 500 {
			w.res.ProbeFailures++
			if failed(w.res.ProbeFailures, float64(w.res.Probes), w.opts.MaxErrorRate) {
				what := fmt.Sprintf("answered %d", code)
				if err != nil {
					what = "failed: " + err.Error()
				}
				return w.breach(CheckProbes, fmt.Sprintf("%d of %d probes failed (%s > %s allowed); the last GET %s %s",
					w.res.ProbeFailures, w.res.Probes, percent(float64(w.res.ProbeFailures)/float64(w.res.Probes)), percent(w.opts.MaxErrorRate), p, what))
			}
		}
	}
	v, date, err := w.version(ctx)
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		// An old pod that still answers once is the end of a rollout; a
		// second answer in a row of another commit is a new deploy.
		if !strings.EqualFold(v.Commit, w.opts.Commit) {
			if w.otherStreak++; w.otherStreak >= Strikes {
				return &SupersededError{Commit: w.opts.Commit, Live: v.Commit}
			}
			return nil
		}
		w.otherStreak = 0
		if err := w.restart(v.Started, date); err != nil {
			return err
		}
	}
	code, err := w.get(ctx, contract.ReadyzPath)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil || code != http.StatusOK {
		w.res.ReadyzFailures++
		w.readyzStreak++
		if w.readyzStreak >= Strikes {
			what := fmt.Sprintf("answered %d", code)
			if err != nil {
				what = err.Error()
			}
			return w.breach(CheckReadyz, fmt.Sprintf("%s did not answer 200 %d times in a row (%s)", contract.ReadyzPath, w.readyzStreak, what))
		}
	} else {
		w.readyzStreak = 0
	}
	return nil
}

// restart checks the start time of the process that answered /version:
// one that started after the check began is a process that restarted.
func (w *watch) restart(started, date time.Time) error {
	if started.IsZero() {
		return nil
	}
	if !w.starts[started] {
		w.starts[started] = true
		w.res.Processes = len(w.starts)
	}
	if !w.res.RestartChecked || date.IsZero() {
		return nil
	}
	if w.since.IsZero() {
		w.since = date
		return nil
	}
	if started.After(w.since) {
		return w.breach(CheckRestart, fmt.Sprintf("a process started at %s, after the soak began (%s by the service's clock): the new version restarted",
			started.UTC().Format(time.TimeOnly), w.since.UTC().Format(time.TimeOnly)))
	}
	return nil
}

// scrape reads /metrics and the Argo CD health; first takes the counters'
// starting point.
func (w *watch) scrape(ctx context.Context, first bool) error {
	if w.opts.Health != nil {
		h, err := w.opts.Health(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			w.res.Health = h
			switch h {
			case "Degraded", "Missing":
				return w.breach(CheckHealth, "Argo CD reports the application "+h)
			case "Healthy":
				w.res.RestartChecked = true
			}
		}
	}
	c, err := w.metrics(ctx)
	if err != nil || ctx.Err() != nil {
		return nil // a service without /metrics is judged by its probes
	}
	if first || w.base == nil {
		w.base = &c
		return nil
	}
	w.res.MetricsRead = true
	w.res.Requests = max(0, c.requests-w.base.requests)
	w.res.ServerErrors = max(0, c.errors-w.base.errors)
	if failed(int(w.res.ServerErrors), w.res.Requests, w.opts.MaxErrorRate) {
		return w.breach(CheckMetrics, fmt.Sprintf("the service counted %.0f answers >= 500 in %.0f requests (%s > %s allowed)",
			w.res.ServerErrors, w.res.Requests, percent(w.res.ServerErrors/w.res.Requests), percent(w.opts.MaxErrorRate)))
	}
	return nil
}

// failed applies the rule of every rate check: at least Strikes failures,
// and a share above the allowed one.
func failed(failures int, total, allowed float64) bool {
	return failures >= Strikes && total > 0 && float64(failures)/total > allowed
}

// counts are the totals of a service's request counters.
type counts struct{ requests, errors float64 }

// metrics reads /metrics and sums the request counters of the service's
// own routes: every counter family named *_http_requests_total with a code
// label, the contract's paths left out, so that the probes of /version,
// /readyz and /metrics do not dilute the share.
func (w *watch) metrics(ctx context.Context) (counts, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url(contract.MetricsPath), nil)
	if err != nil {
		return counts{}, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := w.client.Do(req)
	if err != nil {
		return counts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counts{}, fmt.Errorf("%s: %s", contract.MetricsPath, resp.Status)
	}
	return parseCounts(io.LimitReader(resp.Body, 16<<20))
}

// parseCounts sums the request counters of a text exposition.
func parseCounts(r io.Reader) (counts, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return counts{}, fmt.Errorf("parse %s: %w", contract.MetricsPath, err)
	}
	var c counts
	found := false
	for name, f := range families {
		if !strings.HasSuffix(name, "_http_requests_total") || f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range f.GetMetric() {
			code, route := "", ""
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "code":
					code = l.GetValue()
				case "route":
					route = l.GetValue()
				}
			}
			if code == "" || contractPath(route) {
				continue
			}
			found = true
			v := m.GetCounter().GetValue()
			c.requests += v
			if n, err := strconv.Atoi(code); err == nil && n >= 500 {
				c.errors += v
			}
		}
	}
	if !found {
		return counts{}, errors.New("no *_http_requests_total counter with a code label")
	}
	return c, nil
}

func contractPath(route string) bool {
	switch route {
	case contract.VersionPath, contract.HealthzPath, contract.ReadyzPath, contract.MetricsPath:
		return true
	}
	return false
}

// get GETs a path of the service and returns its status code.
func (w *watch) get(ctx context.Context, path string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url(path), nil)
	if err != nil {
		return 0, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// version GETs /version, with the service's Date header.
func (w *watch) version(ctx context.Context) (Version, time.Time, error) {
	var date time.Time
	client := *w.client
	next := client.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	client.Transport = dateTransport{next: next, date: &date}
	v, err := poll(ctx, &client, w.url(contract.VersionPath), w.timeout)
	return v, date, err
}

// dateTransport keeps the Date header of the answer.
type dateTransport struct {
	next http.RoundTripper
	date *time.Time
}

func (t dateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		*t.date, _ = http.ParseTime(resp.Header.Get("Date"))
	}
	return resp, err
}

func (w *watch) url(path string) string {
	return strings.TrimRight(w.opts.URL, "/") + path
}

func (o SoakOptions) withDefaults() (SoakOptions, error) {
	if _, err := versionURL(o.URL); err != nil {
		return o, err
	}
	o.URL = strings.TrimSpace(o.URL)
	if !shaPattern.MatchString(strings.ToLower(o.Commit)) {
		return o, fmt.Errorf("soak: commit %q is not a full 40-character sha", o.Commit)
	}
	if o.Duration < 0 || o.Interval < 0 {
		return o, fmt.Errorf("soak: negative duration %s or interval %s: use zero for the default", o.Duration, o.Interval)
	}
	if o.Duration == 0 {
		o.Duration = DefaultSoak
	}
	if o.Interval == 0 {
		o.Interval = DefaultSoakInterval
	}
	if o.MaxErrorRate < 0 {
		o.MaxErrorRate = DefaultMaxErrorRate
	}
	if len(o.Paths) == 0 {
		o.Paths = []string{"/"}
	}
	for _, p := range o.Paths {
		if !strings.HasPrefix(p, "/") {
			return o, fmt.Errorf("soak: probe path %q does not start with /", p)
		}
	}
	return o, nil
}

// percent writes a share as a percentage with at most one decimal.
func percent(f float64) string {
	return strconv.FormatFloat(math.Round(1000*f)/10, 'f', -1, 64) + "%"
}

func orNone(s string) string {
	if s == "" {
		return "no health"
	}
	return s
}
