// Package bench measures the pipeline against its physical floor and its
// peers, side by side in one run: the local push-to-live against the sum of
// its irreducible parts, the publish against the ko CLI and a plain go build,
// the bump's API calls, verify's detection delay, and the service against a
// bare net/http handler. The machine it runs on may be shared and noisy, so
// the ratios are the result; the absolute times are context.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/compile"
)

// Names of the measured parts, in the order Run measures them.
const (
	Loop     = "loop"
	Monorepo = "monorepo"
	Soak     = "soak"
	Publish  = "publish"
	Bump     = "bump"
	Verify   = "verify"
	Service  = "service"
)

// All lists every part, in the order Run measures them. The loop comes
// first so that the bench's own peak memory is that of the pipeline.
var All = []string{Loop, Monorepo, Soak, Publish, Bump, Verify, Service}

// Defaults for zero Options fields.
const (
	// MinRuns is the fewest runs that give a meaningful median; also the
	// default.
	MinRuns = 5
	// DefaultLoadDuration is how long each endpoint is loaded per run.
	DefaultLoadDuration = 5 * time.Second
	// partTimeout bounds each part, so a hung component cannot hold the
	// bench forever.
	partTimeout = 20 * time.Minute
)

// Options says what to measure and how often.
type Options struct {
	// Root is the repository root (it holds go.work). It is only read: the
	// bench works on a copy in a temporary directory.
	Root string
	// Runs is the number of timed runs of each measure, at least MinRuns;
	// zero means MinRuns. Warm-up runs come on top.
	Runs int
	// Parts selects what to measure, from All; empty measures everything.
	Parts []string
	// LoadDuration is how long each endpoint, and the bare handler, is loaded
	// per run; zero means DefaultLoadDuration.
	LoadDuration time.Duration
	// Logger receives the components' logs (pipeline, publish, registry);
	// nil discards them.
	Logger *slog.Logger
	// Out, when set, receives one progress line per timed run, so that a
	// bench of several minutes shows where it is.
	Out io.Writer
}

// Run measures the selected parts and returns the report. A part that fails
// is left out of the table, named in the notes, and its error is returned
// joined with the others', together with the report of what was measured.
func Run(ctx context.Context, opts Options) (Report, error) {
	if opts.Runs == 0 {
		opts.Runs = MinRuns
	}
	if opts.Runs < MinRuns {
		return Report{}, fmt.Errorf("bench: %d runs: want at least %d, for a median and a spread that mean something", opts.Runs, MinRuns)
	}
	if opts.LoadDuration == 0 {
		opts.LoadDuration = DefaultLoadDuration
	}
	parts := opts.Parts
	if len(parts) == 0 {
		parts = All
	}
	for _, p := range parts {
		if !slices.Contains(All, p) {
			return Report{}, fmt.Errorf("bench: unknown part %q: want one of %s", p, strings.Join(All, ", "))
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return Report{}, fmt.Errorf("bench: repository root: %w", err)
	}
	opts.Root = root
	tmp, err := os.MkdirTemp("", "platform-demo-bench-")
	if err != nil {
		return Report{}, fmt.Errorf("bench: create a scratch directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	b := &bencher{opts: opts, tmp: tmp, rep: Report{Date: time.Now(), Runs: opts.Runs, Machine: machine()}}
	var errs []error
	for _, p := range All {
		if !slices.Contains(parts, p) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, partTimeout)
		err := b.part(p)(pctx)
		cancel()
		if err != nil {
			b.note("%s: not measured: %v", p, firstLine(err.Error()))
			errs = append(errs, fmt.Errorf("bench %s: %w", p, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	b.rep.Machine.LoadAfter = loadAverage()
	for _, m := range b.rep.Missed() {
		b.note("missed: %s: %s", m.Name, explain(m))
	}
	return b.rep, errors.Join(errs...)
}

// bencher holds what the parts share: the scratch directory, the copy of
// the repository and the binaries built once.
type bencher struct {
	opts Options
	tmp  string
	rep  Report

	ws     *workspace
	svcBin string
}

func (b *bencher) part(name string) func(context.Context) error {
	switch name {
	case Loop:
		return b.loop
	case Monorepo:
		return b.monorepo
	case Soak:
		return b.soak
	case Publish:
		return b.publish
	case Bump:
		return b.bump
	case Verify:
		return b.verify
	}
	return b.service
}

// add appends measures to the report.
func (b *bencher) add(ms ...Measure) { b.rep.Measures = append(b.rep.Measures, ms...) }

// note records a sentence under the table.
func (b *bencher) note(format string, args ...any) {
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf(format, args...))
}

// progress writes one line to Out.
func (b *bencher) progress(part string, run int, format string, args ...any) {
	fmt.Fprintf(b.opts.Out, "bench %s %d/%d: %s\n", part, run+1, b.opts.Runs, fmt.Sprintf(format, args...))
}

// workspace returns the copy of the repository, making it on first use.
func (b *bencher) workspace(ctx context.Context) (*workspace, error) {
	if b.ws != nil {
		return b.ws, nil
	}
	ws, err := newWorkspace(ctx, b.opts.Root, filepath.Join(b.tmp, "repo"))
	if err != nil {
		return nil, err
	}
	b.ws = ws
	return ws, nil
}

// build runs a warm go build of the service in the workspace, as `mage
// build` does, and returns its wall time and the binary.
func (b *bencher) build(ctx context.Context, ws *workspace, out string) (time.Duration, string, error) {
	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: ws.dir})
	if err != nil {
		return 0, "", err
	}
	start := time.Now()
	bin, err := compile.Binary(ctx, compile.Options{Root: ws.dir, Main: "services/platform-demo", Output: out, LDFlags: buildinfo.LDFlags(info.Version, info.Commit)})
	return time.Since(start), bin, err
}

// serviceBinary builds the service once, for the parts that run it.
func (b *bencher) serviceBinary(ctx context.Context) (string, error) {
	if b.svcBin != "" {
		return b.svcBin, nil
	}
	ws, err := b.workspace(ctx)
	if err != nil {
		return "", err
	}
	_, bin, err := b.build(ctx, ws, filepath.Join(b.tmp, "bin", "platform-demo"))
	if err != nil {
		return "", err
	}
	b.svcBin = bin
	return bin, nil
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), LoadBefore: loadAverage()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
					}
				}
			}
		}
	}
	return m
}

// loadAverage is the 1-minute load average, or 0 where /proc has none.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// explain states a missed goal with its numbers.
func explain(m Measure) string {
	if m.Goal == nil {
		return ""
	}
	which := "median"
	if m.Goal.Worst {
		which = "worst run"
	}
	v, ok := m.Goal.judged(m)
	switch {
	case !ok:
		return "no reference to compare with"
	case m.Goal.OnRatio:
		return fmt.Sprintf("%s %.2f× %s, goal %s (median %s against %s)", which, v, m.Reference, m.Goal.text(m.Unit),
			formatValue(m.Stats.Median, m.Unit), formatValue(m.RefMedian, m.Unit))
	}
	return fmt.Sprintf("%s %s, goal %s", which, formatValue(v, m.Unit), m.Goal.text(m.Unit))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// seconds converts durations to samples in UnitSeconds.
func seconds(d time.Duration) float64 { return d.Seconds() }
