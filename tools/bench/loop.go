package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/gate"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
)

const (
	loopGroup  = "1 go tool mage ci after a one-line change to the service"
	toolsGroup = "2 go tool mage ci after a one-line change under tools/"
	cloneGroup = "0 go tool mage ci, first run in a fresh clone"
)

// toolsRuns is how many timed runs the tools row makes: each reruns the
// tests of every package that depends on the change, tens of seconds, so it
// makes fewer than the other rows.
const toolsRuns = 3

// ciStages are the stages of `mage ci`, in order, reported one row each.
var ciStages = []string{"test", "build", "push", "bump", "rollout", "verify", "soak", "record"}

// floorRun is one measurement of the irreducible parts of push-to-live.
type floorRun struct {
	test, build, start time.Duration
}

func (f floorRun) sum() time.Duration { return f.test + f.build + f.start }

// ciRun is one `go tool mage ci` as the user runs it: a process in the
// repository, on a commit.
type ciRun struct {
	wall    time.Duration
	summary ciSummary
	// ran are the packages whose tests the gate ran rather than took from
	// the cache.
	ran []string
	// text is what the run printed, for errors.
	text string
}

// count is how many services had the result ("deployed", "unchanged").
func (r ciRun) count(result string) int {
	n := 0
	for _, s := range r.summary.Services {
		if s.Result == result {
			n++
		}
	}
	return n
}

// result is the named service's result, or "".
func (r ciRun) result(svc string) string {
	for _, s := range r.summary.Services {
		if s.Service == svc {
			return s.Result
		}
	}
	return ""
}

// ciSummary is the part of ci-summary.json the bench reads.
type ciSummary struct {
	Deploy   bool `json:"deploy"`
	Services []struct {
		Service string `json:"service"`
		Result  string `json:"result"`
	} `json:"services"`
	Stages []struct {
		Name    string  `json:"name"`
		Status  string  `json:"status"`
		Seconds float64 `json:"seconds"`
		Detail  string  `json:"detail"`
	} `json:"stages"`
	Live    float64 `json:"pushToLiveSeconds"`
	Verdict float64 `json:"pushToVerdictSeconds"`
}

// loop times `go tool mage ci` as a process in a copy of the repository,
// after a one-line change committed to the service and, in its own rows,
// under tools/, against the floor measured in the same runs: testing the
// changed module as the gate does (go test -race, with the cache), a warm
// build of the service and one start of it to ready. No pipeline can skip
// those; the rest is what the pipeline adds.
func (b *bencher) loop(ctx context.Context) error {
	ws, err := b.workspace(ctx)
	if err != nil {
		return err
	}
	live, err := loopback.FreeRun(0, 1)
	if err != nil {
		return err
	}
	ci, err := b.newCI(filepath.Join(b.tmp, "ci-state"), live)
	if err != nil {
		return err
	}
	// The first run in the fresh copy: mage compiles the magefile there,
	// the gate runs the tests the cache cannot vouch for in a new place.
	first, err := ci.run(ctx, ws)
	if err != nil {
		return err
	}
	if first.count("deployed") != 1 {
		return fmt.Errorf("the first go tool mage ci in a fresh copy deployed %d services, want platform-demo:\n%s", first.count("deployed"), first.text)
	}
	fmt.Fprintf(b.opts.Out, "bench loop: first go tool mage ci in a fresh copy: %s\n", first.wall.Round(time.Millisecond))
	firstM := newMeasure(cloneGroup, "go tool mage ci, wall", UnitSeconds, []float64{seconds(first.wall)}, nil, nil)
	firstM.Note = fmt.Sprintf("one run; the gate ran %d of the packages", len(first.ran))
	b.add(firstM)
	b.note("%s: the gate ran the tests of %s; the rest came from the cache", cloneGroup[2:], strings.Join(shortNames(first.ran), ", "))

	// One untimed round of the floor warms what the first run did not: the
	// floor's own builds (the tools rows get theirs below).
	if _, err := b.floor(ctx, ws, serviceEdit, "services/platform-demo"); err != nil {
		return err
	}
	if err := b.ciRows(ctx, ws, ci, serviceEdit, "services/platform-demo", loopGroup, b.opts.Runs, 1, &Goal{OnRatio: true, Limit: 2}); err != nil {
		return err
	}
	if ru, err := childMaxRSS(); err == nil {
		m := newMeasure(loopGroup, "peak RSS of the largest child (go test, go build, mage, the service)", UnitBytes, []float64{ru}, nil, nil)
		m.Note = "getrusage(RUSAGE_CHILDREN) ru_maxrss"
		b.add(m)
	}
	if _, err := b.floor(ctx, ws, toolsEdit, "tools"); err != nil {
		return err
	}
	return b.ciRows(ctx, ws, ci, toolsEdit, "tools", toolsGroup, toolsRuns, 0, nil)
}

// ciRows measures runs of `mage ci` after changes of e against the floor
// of module, alternating which side goes first. Each run must deploy
// deploys services: the service after a change to it, none after a change
// under tools/.
func (b *bencher) ciRows(ctx context.Context, ws *workspace, ci *ciProcess, e edit, module, group string, runs, deploys int, goal *Goal) error {
	var walls, floors, tests, builds, starts, lives []float64
	stages := map[string][]float64{}
	ranSeen := map[string]bool{}
	for i := range runs {
		var f floorRun
		var r ciRun
		var err error
		if i%2 == 0 {
			if f, err = b.floor(ctx, ws, e, module); err == nil {
				r, err = ci.change(ctx, ws, e)
			}
		} else {
			if r, err = ci.change(ctx, ws, e); err == nil {
				f, err = b.floor(ctx, ws, e, module)
			}
		}
		if err != nil {
			return err
		}
		if n := r.count("deployed"); n != deploys {
			return fmt.Errorf("go tool mage ci after a change to %s deployed %d services, want %d:\n%s", e.file, n, deploys, r.text)
		}
		walls = append(walls, seconds(r.wall))
		floors = append(floors, seconds(f.sum()))
		tests = append(tests, seconds(f.test))
		builds = append(builds, seconds(f.build))
		starts = append(starts, seconds(f.start))
		if r.summary.Live > 0 {
			lives = append(lives, r.summary.Live)
		}
		for _, st := range r.summary.Stages {
			if st.Status == "ok" {
				stages[st.Name] = append(stages[st.Name], st.Seconds)
			}
		}
		for _, p := range r.ran {
			ranSeen[p] = true
		}
		fmt.Fprintf(b.opts.Out, "bench %s %d/%d: ", group[:1], i+1, runs)
		fmt.Fprintf(b.opts.Out, "mage ci %s (gate ran %d packages), floor %s (test %s, build %s, start %s)\n",
			r.wall.Round(time.Millisecond), len(r.ran), f.sum().Round(time.Millisecond),
			f.test.Round(time.Millisecond), f.build.Round(time.Millisecond), f.start.Round(time.Millisecond))
	}
	floorM := newMeasure(group, "floor: go test -race + go build + start", UnitSeconds, floors, nil, nil)
	// The goal is on push to live, the first answer of the new commit,
	// which the floor bounds: the soak after it is VERIFY_SOAK by design
	// (row 10 measures what it adds to the wall).
	wallGoal, liveGoal := goal, (*Goal)(nil)
	if goal != nil && len(lives) == len(floors) {
		wallGoal, liveGoal = nil, goal
	}
	wallM := newMeasure(group, "go tool mage ci, wall", UnitSeconds, walls, &floorM, wallGoal)
	ran := shortNames(slices.Collect(maps.Keys(ranSeen)))
	wallM.Note = "the gate ran the tests of: " + strings.Join(ran, ", ")
	b.note("%s: the gate ran the tests of %s; the rest came from the cache", group[2:], strings.Join(ran, ", "))
	if liveGoal != nil {
		b.add(newMeasure(group, "push→live (first answer of the new commit)", UnitSeconds, lives, &floorM, liveGoal))
	}
	b.add(wallM)
	if goal != nil {
		b.add(newMeasure(group, "go tool mage ci, wall", UnitSeconds, walls, nil, &Goal{Limit: 15}))
	}
	if len(lives) > 0 && liveGoal == nil {
		b.add(newMeasure(group, "push→live (from the run's start)", UnitSeconds, lives, nil, nil).sub())
	}
	for _, name := range ciStages {
		if s := stages[name]; len(s) > 0 {
			b.add(newMeasure(group, "stage "+name, UnitSeconds, s, nil, nil).sub())
		}
	}
	b.add(floorM,
		newMeasure(group, fmt.Sprintf("floor: go test -race ./... (%s, as the gate)", module), UnitSeconds, tests, nil, nil).sub(),
		newMeasure(group, "floor: warm go build of the service", UnitSeconds, builds, nil, nil).sub(),
		newMeasure(group, "floor: process start to ready", UnitSeconds, starts, nil, nil).sub())
	return nil
}

// floor makes the change e, then times its irreducible parts: the tests of
// module, as the gate runs them (race, cache, the inputs' digests), a warm
// build of the service and one start of it.
func (b *bencher) floor(ctx context.Context, ws *workspace, e edit, module string) (floorRun, error) {
	var f floorRun
	if err := ws.apply(ctx, e); err != nil {
		return f, err
	}
	digests, err := inputs.Env(ws.dir)
	if err != nil {
		return f, err
	}
	// As the gate runs them: with its digests, and the race detector not
	// sleeping at exit.
	digests = append(digests, "GORACE="+gate.NoExitSleep)
	if f.test, _, err = runCmd(ctx, filepath.Join(ws.dir, module), digests, "go", append(append([]string{"test"}, gate.TestFlags...), "./...")...); err != nil {
		return f, err
	}
	var bin string
	if f.build, bin, err = b.build(ctx, ws, filepath.Join(b.tmp, "bin", "floor")); err != nil {
		return f, err
	}
	srv, ready, err := startService(ctx, bin)
	if err != nil {
		return f, err
	}
	srv.stop()
	f.start = ready
	return f, nil
}

// ciProcess runs `go tool mage ci` in the workspace as a user would, with
// the local loop's state kept across runs (as .state/ is) on loopback ports
// of its own.
type ciProcess struct {
	env   []string
	state string
}

// newCI runs with its state in state and the local rollouts from port
// base on.
func (b *bencher) newCI(state string, base int) (*ciProcess, error) {
	reg, err := loopback.FreePort()
	if err != nil {
		return nil, err
	}
	// None of the pipeline's settings from the bench's own environment: the
	// runs are the local loop with nothing configured.
	env := gate.Environ(config.Without(os.Environ()), config.SecretNames())
	env = append(env, "PIPELINE_STATE_DIR="+state,
		fmt.Sprintf("LOCAL_REGISTRY_ADDR=127.0.0.1:%d", reg), fmt.Sprintf("LOCAL_ADDR=127.0.0.1:%d", base))
	return &ciProcess{env: env, state: state}, nil
}

// change commits the change e and takes it live with `go tool mage ci`.
func (c *ciProcess) change(ctx context.Context, ws *workspace, e edit) (ciRun, error) {
	if err := ws.apply(ctx, e); err != nil {
		return ciRun{}, err
	}
	return c.run(ctx, ws)
}

// run runs `go tool mage ci` once and reads what it did.
func (c *ciProcess) run(ctx context.Context, ws *workspace) (ciRun, error) {
	r, stderr, exit, err := c.exec(ctx, ws)
	switch {
	case exit != nil:
		return r, fmt.Errorf("go tool mage ci: %w\n%s\n%s", exit, r.text, tail(stderr, 4000))
	case err != nil:
		return r, err
	case r.count("deployed") > 0 && r.summary.Live == 0:
		return r, fmt.Errorf("go tool mage ci deployed and never saw the commit live:\n%s", r.text)
	}
	// The gate prints a line per package it tested: "ok  <path> <time>", or
	// "(cached)" in place of the time.
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && (f[0] == "ok" || f[0] == "FAIL") && f[2] != "(cached)" {
			r.ran = append(r.ran, f[1])
		}
	}
	return r, nil
}

// runMayFail runs `go tool mage ci` once and reads its summary whether or
// not it failed; exit is the run's own failure.
func (c *ciProcess) runMayFail(ctx context.Context, ws *workspace) (r ciRun, exit, err error) {
	r, _, exit, err = c.exec(ctx, ws)
	return r, exit, err
}

// exec runs `go tool mage ci` once: its wall time, standard output and
// summary in r, its standard error, and its own failure in exit; err is a
// summary that could not be read (the one of an earlier run is removed
// first, so that it is never taken for this one's).
func (c *ciProcess) exec(ctx context.Context, ws *workspace) (r ciRun, stderr []byte, exit, err error) {
	summary := filepath.Join(c.state, "ci-summary.json")
	if err := os.Remove(summary); err != nil && !errors.Is(err, os.ErrNotExist) {
		return r, nil, nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "mage", "ci")
	cmd.Dir, cmd.Env = ws.dir, c.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &errb
	start := time.Now()
	exit = cmd.Run()
	r = ciRun{wall: time.Since(start), text: stdout.String()}
	if ctx.Err() != nil {
		return r, errb.Bytes(), exit, ctx.Err()
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		return r, errb.Bytes(), exit, fmt.Errorf("read the summary of go tool mage ci (%v): %w\n%s", exit, err, tail(errb.Bytes(), 4000))
	}
	if err := json.Unmarshal(b, &r.summary); err != nil {
		return r, errb.Bytes(), exit, fmt.Errorf("read the summary of go tool mage ci: %w", err)
	}
	return r, errb.Bytes(), exit, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// childMaxRSS is the peak resident memory of the largest child process.
func childMaxRSS() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0, err
	}
	return float64(ru.Maxrss) * 1024, nil
}

// shortNames returns the import paths relative to the repository, sorted.
func shortNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, strings.TrimPrefix(p, "github.com/andrelair-platform/platform-demo/"))
	}
	slices.Sort(out)
	return out
}
