// Package gate runs the repository's quality gate: gofmt, go vet and
// staticcheck (the magefile included) and the race-enabled tests of every
// workspace module.
//
// The gate reruns exactly the tests whose inputs changed and takes the rest
// from Go's test cache: it passes -trimpath, so that a result does not
// depend on where the clone is, and the content digests of the repository
// files tests read outside their module (tools/internal/inputs), so that a
// result cached against other files is never reused; it hashes those files
// again after the run and drops the test cache if they changed meanwhile.
// Full reruns every test.
//
// The go processes of the gate never see the pipeline's secrets: Environ
// removes them from the environment it is given.
package gate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/andrelair-platform/platform-demo/tools/internal/git"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
)

// Options configures a run of the gate.
type Options struct {
	// Root is the workspace root (the directory holding go.work).
	Root string
	// Short passes -short to go test, skipping the slow end-to-end tests.
	Short bool
	// Run, when set, is passed to go test -run.
	Run string
	// Full reruns every test (-count=1) instead of reusing cached results.
	Full bool
	// Env is the environment of the go commands, without secrets (see
	// Environ). Nil means Environ(os.Environ(), nil).
	Env []string
	// Timings is a file that keeps how long each package's tests took, so
	// that the next run starts the slowest first; empty keeps none.
	Timings string
	// Events is a file that keeps the last run's go test -json output, the
	// time of every test included, to find where the suite's time goes;
	// empty keeps none.
	Events string
	// Stdout receives one line per package and the summary; Stderr the go
	// command's own messages.
	Stdout, Stderr io.Writer
}

// Result is what a run of the gate did.
type Result struct {
	// Packages are the tested packages, in the order they finished.
	Packages []Package
	// Start and End bound the run.
	Start, End time.Time
}

// Package is one package's test result.
type Package struct {
	// Path is the import path.
	Path string
	// Status is "ran", "cached", "no tests" or "failed".
	Status string
	// Elapsed is how long its tests ran; zero when cached.
	Elapsed time.Duration
}

// ran lists the packages whose tests ran rather than came from the cache.
func (r Result) ran() []string {
	var out []string
	for _, p := range r.Packages {
		if p.Status == "ran" || p.Status == "failed" {
			out = append(out, p.Path)
		}
	}
	return out
}

// Summary is one line: how many packages ran, how many were cached.
func (r Result) Summary() string {
	counts := map[string]int{}
	for _, p := range r.Packages {
		counts[p.Status]++
	}
	s := fmt.Sprintf("%d packages: %d ran, %d cached", counts["ran"]+counts["cached"]+counts["failed"], counts["ran"]+counts["failed"], counts["cached"])
	if n := counts["failed"]; n > 0 {
		s += fmt.Sprintf(", %d failed", n)
	}
	return s
}

// Run runs gofmt, then the linters (vet, staticcheck) and the tests side by
// side (the linters read what the tests compile anyway), and fails if any
// of them fails.
func Run(ctx context.Context, opts Options) (Result, error) {
	res := Result{Start: time.Now()}
	defer func() { res.End = time.Now() }()
	if opts.Env == nil {
		opts.Env = Environ(os.Environ(), nil)
	}
	if err := Gofmt(ctx, opts.Root); err != nil {
		return res, err
	}
	patterns, err := Patterns(opts.Root)
	if err != nil {
		return res, err
	}
	if err := Tidy(ctx, opts, patterns); err != nil {
		return res, err
	}
	var lintErr error
	var wg sync.WaitGroup
	wg.Go(func() { lintErr = lint(ctx, opts, patterns) })
	times := readTimings(opts.Timings)
	var testErr error
	res.Packages, testErr = test(ctx, opts, append(times.first(opts.Root), patterns...))
	wg.Wait()
	// Only a faster next run depends on it: a failure to write is no
	// failure of the gate.
	_ = times.record(opts.Timings, res.Packages)
	res.End = time.Now()
	return res, errors.Join(lintErr, testErr)
}

// Patterns lists the package patterns of the workspace's modules, one
// ./dir/... for each module of go.work that has packages (the root module
// holds only the magefile).
func Patterns(root string) ([]string, error) {
	path := filepath.Join(root, "go.work")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the workspace: %w", err)
	}
	wf, err := modfile.ParseWork(path, b, nil)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var out []string
	for _, u := range wf.Use {
		dir := filepath.ToSlash(filepath.Clean(u.Path))
		if dir == "." {
			continue
		}
		out = append(out, "./"+dir+"/...")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s uses no module besides the root: nothing to test", path)
	}
	return out, nil
}

// Tidy fails unless every service module is tidy (go mod tidy -diff, on
// its own: GOWORK=off), as a user's module must be for ko to build it and
// for `mage new`, which seeds a new service's go.sum from the kit's. Like
// go test, it downloads the modules it lacks; these are also what the
// test of `mage new` needs in the module cache, since that test runs go
// mod tidy with no network.
func Tidy(ctx context.Context, opts Options, patterns []string) error {
	var dirs []string
	for _, p := range patterns {
		if dir := strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/..."); strings.HasPrefix(dir, "services/") {
			dirs = append(dirs, dir)
		}
	}
	// Side by side: each takes about 0.1 s once the modules are there.
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, "go", "mod", "tidy", "-diff")
			cmd.Dir = filepath.Join(opts.Root, filepath.FromSlash(dir))
			cmd.Env = append(slices.Clone(opts.Env), "GOWORK=off")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			switch err := cmd.Run(); {
			case err == nil:
			case stdout.Len() > 0:
				errs[i] = fmt.Errorf("%s is not tidy: run (cd %s && GOWORK=off go mod tidy), which changes:\n%s", dir, dir, bytes.TrimSpace(stdout.Bytes()))
			default:
				errs[i] = fmt.Errorf("go mod tidy -diff in %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Gofmt reports every tracked or new Go file that gofmt would change.
func Gofmt(ctx context.Context, root string) error {
	out, err := git.Cmd{Dir: root}.Run(ctx, "ls-files", "--cached", "--others", "--exclude-standard", "*.go")
	if err != nil {
		return fmt.Errorf("list go files: %w", err)
	}
	var bad []string
	for _, name := range strings.Fields(out) {
		src, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, still in the index
		}
		if err != nil {
			return fmt.Errorf("gofmt: %w", err)
		}
		formatted, err := format.Source(src)
		if err != nil {
			return fmt.Errorf("gofmt %s: %w", name, err)
		}
		if !bytes.Equal(src, formatted) {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("gofmt: %d files need formatting, run gofmt -w %s", len(bad), strings.Join(bad, " "))
	}
	return nil
}

// lint runs go vet and staticcheck side by side over the modules and the
// magefile: after a small change, the tests wait on neither.
//
// Each runs once over everything, the magefile's build tag set (only the
// magefile carries it): go vet keys the facts it derives from every
// dependency on the build tags, so a second run of its own for the
// magefile analysed the whole dependency graph again (38 s of CPU on a
// fresh machine).
func lint(ctx context.Context, opts Options, patterns []string) error {
	args := patterns
	if _, err := os.Stat(filepath.Join(opts.Root, "magefile.go")); err == nil {
		args = append([]string{"-tags", "mage", "."}, patterns...)
	}
	var staticErr error
	var wg sync.WaitGroup
	wg.Go(func() { staticErr = staticcheck(ctx, opts, args...) })
	vetErr := gocmd(ctx, opts, append([]string{"vet"}, args...)...)
	wg.Wait()
	return errors.Join(vetErr, staticErr)
}

// StaticcheckConfig is the file at the workspace root that lists the checks
// staticcheck runs. A workspace without one (a test's fixture) is not
// checked by staticcheck.
const StaticcheckConfig = "staticcheck.conf"

// staticcheck runs the staticcheck that the workspace pins as a tool (go
// tool staticcheck) with args, where the workspace has a StaticcheckConfig.
//
// Unless STATICCHECK_CACHE says otherwise, staticcheck keeps its results in
// Go's build cache directory, beside Go's own: a CI runner that restores
// the build cache (actions/setup-go does) then restores staticcheck's
// results too, which on a cold cache cost more than go vet's.
func staticcheck(ctx context.Context, opts Options, args ...string) error {
	if _, err := os.Stat(filepath.Join(opts.Root, StaticcheckConfig)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if !slices.ContainsFunc(opts.Env, func(kv string) bool { return strings.HasPrefix(kv, "STATICCHECK_CACHE=") }) {
		cmd := exec.CommandContext(ctx, "go", "env", "GOCACHE")
		cmd.Dir, cmd.Env = opts.Root, opts.Env
		if out, err := cmd.Output(); err == nil {
			if dir := strings.TrimSpace(string(out)); filepath.IsAbs(dir) {
				opts.Env = append(slices.Clone(opts.Env), "STATICCHECK_CACHE="+filepath.Join(dir, "staticcheck"))
			}
		}
	}
	return gocmd(ctx, opts, append([]string{"tool", "staticcheck"}, args...)...)
}

// gocmd runs the go command at the workspace root, its output to Stderr.
func gocmd(ctx context.Context, opts Options, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = opts.Root, opts.Env
	cmd.Stdout, cmd.Stderr = opts.Stderr, opts.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// TestFlags are the flags of the gate's go test: the race detector, paths
// trimmed, so that results carry over between checkouts (ADR 0008), and no
// vet of its own: go test runs a subset of go vet's checks over the same
// packages, test files included, which the gate's go vet runs in full
// anyway, and on a fresh machine that second pass costs a vet of every
// dependency (about 40 s of CPU here). (go test links the binaries it runs
// without DWARF already.)
var TestFlags = []string{"-race", "-trimpath", "-vet=off"}

// test runs go test -race over the modules in one go command, so that it
// schedules the packages of every module together, and reports each
// package as it finishes.
func test(ctx context.Context, opts Options, patterns []string) ([]Package, error) {
	args := append(append([]string{"test"}, TestFlags...), "-json")
	if opts.Full {
		args = append(args, "-count=1")
	}
	if opts.Short {
		args = append(args, "-short")
	}
	if opts.Run != "" {
		args = append(args, "-run", opts.Run)
	}
	digests, err := inputs.Env(opts.Root)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", append(args, patterns...)...)
	cmd.Dir = opts.Root
	cmd.Env = append(withGORACE(opts.Env), digests...)
	cmd.Stderr = opts.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("go test: %w", err)
	}
	var events io.Reader = stdout
	if opts.Events != "" {
		// Only a later look depends on it: a file that cannot be written
		// is no failure of the gate.
		if err := os.MkdirAll(filepath.Dir(opts.Events), 0o755); err == nil {
			if f, err := os.Create(opts.Events); err == nil {
				defer f.Close()
				events = io.TeeReader(stdout, f)
			}
		}
	}
	pkgs := report(events, opts.Stdout)
	err = cmd.Wait()
	if err := recheck(ctx, opts, digests); err != nil {
		return pkgs, err
	}
	if err != nil {
		if ctx.Err() != nil {
			return pkgs, ctx.Err()
		}
		var failed []string
		for _, p := range pkgs {
			if p.Status == "failed" {
				failed = append(failed, p.Path)
			}
		}
		if len(failed) > 0 {
			return pkgs, fmt.Errorf("tests failed in %s", strings.Join(failed, ", "))
		}
		return pkgs, fmt.Errorf("go test: %w", err)
	}
	return pkgs, nil
}

// recheck hashes the input sets again after the tests ran. A set that
// changed meanwhile may have been read by a test whose result Go cached
// under the set's earlier digest; were the files put back, that result
// would be served for them. So the test cache is dropped (`go clean
// -testcache`, the only way the go command offers) and the run fails.
func recheck(ctx context.Context, opts Options, digests []string) error {
	changed, err := inputs.Changed(opts.Root, digests)
	if err != nil {
		return fmt.Errorf("hash the test inputs again: %w", err)
	}
	if len(changed) == 0 {
		return nil
	}
	clean := exec.CommandContext(ctx, "go", "clean", "-testcache")
	clean.Dir, clean.Env = opts.Root, opts.Env
	if out, err := clean.CombinedOutput(); err != nil {
		return fmt.Errorf("files of %s changed while the tests ran, and go clean -testcache failed: %v: %s",
			strings.Join(changed, ", "), err, bytes.TrimSpace(out))
	}
	return fmt.Errorf("files of %s changed while the tests ran: the test cache was cleared, so that no result is kept for files the test did not see; run the tests again",
		strings.Join(changed, ", "))
}

// event is one line of `go test -json` (test2json) output.
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Output     string
	Elapsed    float64
}

// report reads test2json events from r, prints one line per finished
// package (and the whole output of a failed one) to w, and returns the
// packages.
func report(r io.Reader, w io.Writer) []Package {
	var (
		pkgs   []Package
		output = map[string]*strings.Builder{}
		cached = map[string]bool{}
	)
	buf := func(key string) *strings.Builder {
		if output[key] == nil {
			output[key] = &strings.Builder{}
		}
		return output[key]
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // not an event: pass it on
			continue
		}
		switch e.Action {
		case "build-output":
			buf(e.ImportPath).WriteString(e.Output)
		case "build-fail":
			fmt.Fprint(w, buf(e.ImportPath).String())
		case "output":
			buf(e.Package).WriteString(e.Output)
			if e.Test == "" && strings.Contains(e.Output, "(cached)") {
				cached[e.Package] = true
			}
		case "pass", "fail", "skip":
			if e.Test != "" {
				break
			}
			p := Package{Path: e.Package, Elapsed: time.Duration(e.Elapsed * float64(time.Second))}
			switch {
			case e.Action == "fail":
				p.Status = "failed"
				fmt.Fprint(w, buf(e.Package).String())
			case e.Action == "skip":
				p.Status = "no tests"
			case cached[e.Package]:
				p.Status = "cached"
			default:
				p.Status = "ran"
			}
			if p.Status != "no tests" {
				fmt.Fprintf(w, "%-6s %s %s\n", statusWord(p), p.Path, elapsed(p))
			}
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

func statusWord(p Package) string {
	if p.Status == "failed" {
		return "FAIL"
	}
	return "ok"
}

func elapsed(p Package) string {
	if p.Status == "cached" {
		return "(cached)"
	}
	return p.Elapsed.Round(10 * time.Millisecond).String()
}

// secretSuffixes end the names of variables that hold credentials. Tests
// never need one: a test that talks to a server makes its own.
var secretSuffixes = []string{"_TOKEN", "_PASSWORD", "_PRIVATE_KEY", "_SECRET", "_KEY"}

// Environ returns environ without secrets: the variables named in secrets
// and every variable whose name ends in _TOKEN, _PASSWORD, _SECRET, _KEY
// or _PRIVATE_KEY (GITHUB_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN and the
// like included). PATH keeps the first of each repeated entry: `go tool`
// and `go test` put GOROOT/bin in front of PATH every time, so its value
// would say how deeply the gate was started (from a terminal, from `mage
// bench`), and Go's test cache, which keys a result on the value of every
// variable the test read, would keep results apart that are the same.
func Environ(environ, secrets []string) []string {
	var out []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if slices.Contains(secrets, name) || slices.ContainsFunc(secretSuffixes, func(s string) bool { return strings.HasSuffix(upper, s) }) {
			continue
		}
		if name == "PATH" {
			kv = "PATH=" + dedupPath(value)
		}
		out = append(out, kv)
	}
	return out
}

// withGORACE returns env with the race detector told not to sleep at exit.
// Its default, atexit_sleep_ms=1000, holds every test binary for a second
// after its tests passed, so that a goroutine still running may report a
// race: a second per package the gate runs, which is most of the time of
// a package whose tests take milliseconds. A race in such a goroutine is
// still reported when it happens before the exit, as the tests' own
// goroutines are waited for. A GORACE of the user's is kept, and an
// atexit_sleep_ms in it wins.
func withGORACE(env []string) []string {
	out := slices.Clone(env)
	for i, kv := range out {
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			if !strings.Contains(v, "atexit_sleep_ms=") {
				out[i] = "GORACE=" + strings.Join(append(strings.Fields(v), NoExitSleep), " ")
			}
			return out
		}
	}
	return append(out, "GORACE="+NoExitSleep)
}

// NoExitSleep is the GORACE option the gate runs the tests with.
const NoExitSleep = "atexit_sleep_ms=0"

// dedupPath drops the later copies of repeated PATH entries, which no
// lookup reaches.
func dedupPath(path string) string {
	seen := map[string]bool{}
	var out []string
	for _, dir := range filepath.SplitList(path) {
		if !seen[dir] {
			seen[dir] = true
			out = append(out, dir)
		}
	}
	return strings.Join(out, string(os.PathListSeparator))
}
