package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/pipeline"
)

const loopGroup = "1 local push→live after a one-line change"

// loopStages are the stages of a local run, in order, reported one row each.
var loopStages = []string{"test", "publish", "bump", "rollout", "verify"}

// floorRun is one measurement of the irreducible parts of push-to-live.
type floorRun struct {
	test, build, start time.Duration
}

func (f floorRun) sum() time.Duration { return f.test + f.build + f.start }

// loop measures the local loop (pipeline.Run in process, as `mage ci` runs
// it) after a one-line change, against the sum of what no pipeline can skip
// after the same kind of change: testing the changed module, a warm build of
// the service and one start of it to ready.
func (b *bencher) loop(ctx context.Context) error {
	ws, err := b.workspace(ctx)
	if err != nil {
		return err
	}
	// The state directory outlives the runs, as .state/ does between `mage
	// ci` runs: the registry's blobs and the gitops repository stay warm.
	state := filepath.Join(b.tmp, "loop-state")

	// One untimed round warms the build and test caches for the copy's path
	// and the registry's base layer.
	if _, err := b.floor(ctx, ws); err != nil {
		return err
	}
	if _, err := b.pipelineRun(ctx, ws, state); err != nil {
		return err
	}

	var live, floor, tests, builds, starts []float64
	stages := map[string][]float64{}
	for i := range b.opts.Runs {
		var f floorRun
		var sum pipeline.Summary
		var err error
		// Alternating the order spreads any drift of the machine's load
		// over both sides.
		if i%2 == 0 {
			if f, err = b.floor(ctx, ws); err == nil {
				sum, err = b.pipelineRun(ctx, ws, state)
			}
		} else {
			if sum, err = b.pipelineRun(ctx, ws, state); err == nil {
				f, err = b.floor(ctx, ws)
			}
		}
		if err != nil {
			return err
		}
		live = append(live, seconds(sum.Live))
		floor = append(floor, seconds(f.sum()))
		tests = append(tests, seconds(f.test))
		builds = append(builds, seconds(f.build))
		starts = append(starts, seconds(f.start))
		for _, st := range sum.Stages {
			if st.Status == pipeline.StatusOK {
				stages[st.Name] = append(stages[st.Name], seconds(st.Duration))
			}
		}
		b.progress(Loop, i, "push→live %s, floor %s (test %s, build %s, start %s)",
			sum.Live.Round(time.Millisecond), f.sum().Round(time.Millisecond),
			f.test.Round(time.Millisecond), f.build.Round(time.Millisecond), f.start.Round(time.Millisecond))
	}

	floorM := newMeasure(loopGroup, "floor: go test + go build + start", UnitSeconds, floor, nil, nil)
	liveM := newMeasure(loopGroup, "push→live (pipeline.Run, local)", UnitSeconds, live, &floorM, &Goal{OnRatio: true, Limit: 2})
	b.add(liveM)
	for _, name := range loopStages {
		if s := stages[name]; len(s) > 0 {
			b.add(newMeasure(loopGroup, "stage "+name, UnitSeconds, s, nil, nil).sub())
		}
	}
	testM := newMeasure(loopGroup, "floor: go test ./... (service module)", UnitSeconds, tests, nil, nil).sub()
	buildM := newMeasure(loopGroup, "floor: warm go build (compile.Binary)", UnitSeconds, builds, nil, nil).sub()
	startM := newMeasure(loopGroup, "floor: process start to ready", UnitSeconds, starts, nil, nil).sub()
	b.add(floorM, testM, buildM, startM)

	// The pipeline ran in this process, as in `mage ci`: its peak memory is
	// this process's, read before the other parts add to it.
	if rss, err := peakRSS("self"); err == nil {
		m := newMeasure(loopGroup, "peak RSS of the bench process (in-process pipeline, as mage ci)", UnitBytes, []float64{rss}, nil, nil)
		m.Note = "VmHWM of this process after the loop runs"
		b.add(m)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err == nil && ru.Maxrss > 0 {
		m := newMeasure(loopGroup, "peak RSS of the largest child (go test, go build, the service)", UnitBytes, []float64{float64(ru.Maxrss) * 1024}, nil, nil)
		m.Note = "getrusage(RUSAGE_CHILDREN) ru_maxrss"
		b.add(m)
	}
	return nil
}

// floor makes a one-line change, then times its irreducible parts.
func (b *bencher) floor(ctx context.Context, ws *workspace) (floorRun, error) {
	var f floorRun
	if err := ws.change(ctx); err != nil {
		return f, err
	}
	var err error
	if f.test, err = goTest(ctx, ws); err != nil {
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

// goTest runs the tests of the changed module, as the test stage does.
func goTest(ctx context.Context, ws *workspace) (time.Duration, error) {
	d, _, err := runCmd(ctx, filepath.Join(ws.dir, "services", "platform-demo"), nil, "go", "test", "./...")
	return d, err
}

// pipelineRun makes a one-line change and takes it live with the local
// loop, configured as `mage ci` configures it, on free loopback ports.
func (b *bencher) pipelineRun(ctx context.Context, ws *workspace, state string) (pipeline.Summary, error) {
	if err := ws.change(ctx); err != nil {
		return pipeline.Summary{}, err
	}
	env := map[string]string{
		"PIPELINE_STATE_DIR":  state,
		"LOCAL_REGISTRY_ADDR": "127.0.0.1:0",
		"LOCAL_ADDR":          "127.0.0.1:0",
	}
	settings, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, ws.dir)
	if err != nil {
		return pipeline.Summary{}, err
	}
	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: ws.dir})
	if err != nil {
		return pipeline.Summary{}, err
	}
	sum, err := pipeline.Run(ctx, pipeline.Options{
		Settings: settings,
		Build:    info,
		Gate: func(ctx context.Context) (string, error) {
			_, err := goTest(ctx, ws)
			return "go test ./... (service module)", err
		},
		Logger: b.opts.Logger,
	})
	if err != nil {
		return sum, fmt.Errorf("pipeline run of %s: %w", info.Version, err)
	}
	if sum.Live == 0 {
		return sum, fmt.Errorf("pipeline run of %s: verify never saw it live:\n%s", info.Version, sum.Text())
	}
	return sum, nil
}
