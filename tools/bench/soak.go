package bench

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/verify"
)

const (
	soakGoodGroup   = "10 soak: good deploys under HTTP load"
	soakDetectGroup = "11 soak: a version that fails every request"
	soakTenGroup    = "12 soak: a version that fails one request in ten"
	// goodDeploys is how many good deploys in a row must pass their soak
	// while the load runs.
	goodDeploys = 20
)

// faultEdit ships a version of the service that answers a share of its
// own requests 500, through the kit's fault switch set in main: a commit
// that breaks the service, as a bad change would.
func faultEdit(rate string) edit {
	return edit{
		file: "services/platform-demo/main.go",
		line: regexp.MustCompile(`(?m)^func main\(\) \{.*$`),
		replace: func(tag string) string {
			return fmt.Sprintf("func main() { os.Setenv(\"FAULT_ERROR_RATE\", %q); kit.Main(name, routes) } // bench change %s", rate, tag)
		},
	}
}

// soak measures the soak `go tool mage ci` runs after a deploy, with `go
// tool mage local` serving the service the whole time: twenty good deploys
// in a row under HTTP load (none may roll back), against the same change
// with VERIFY_SOAK=0 for what the soak adds to the wall; then versions that
// fail every request and one in ten, each caught and rolled back.
func (b *bencher) soak(ctx context.Context) error {
	ws, ci, local, base, err := b.localCopy(ctx, "soak", []int{0, 1}, "platform-demo in staging")
	if err != nil {
		return err
	}
	defer local.stop()
	soakFor, interval := verify.LocalSoak, verify.LocalSoakInterval

	// The same change with the soak off and on, in turn, for what it adds.
	off := &ciProcess{env: append(append([]string(nil), ci.env...), "VERIFY_SOAK=0"), state: ci.state}
	var added, withOff []float64
	for i := range b.opts.Runs {
		r0, err := off.change(ctx, ws, serviceEdit)
		if err != nil {
			return err
		}
		r1, err := ci.change(ctx, ws, serviceEdit)
		if err != nil {
			return err
		}
		withOff = append(withOff, seconds(r0.wall))
		added = append(added, seconds(r1.wall-r0.wall))
		fmt.Fprintf(b.opts.Out, "bench 10: VERIFY_SOAK=0 %s, soaked %s (%d/%d)\n", r0.wall.Round(time.Millisecond), r1.wall.Round(time.Millisecond), i+1, b.opts.Runs)
	}

	// Good deploys under load: wrk (or the Go loader) on staging's / the
	// whole time.
	load := pickLoader()
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan error, 1)
	go func() {
		_, err := load.run(lctx, fmt.Sprintf("http://127.0.0.1:%d/", base), 15*time.Minute)
		loadDone <- err
	}()
	var rollbacks, lives, verdicts, walls, soaks []float64
	for i := range goodDeploys {
		r, err := ci.change(ctx, ws, serviceEdit)
		if err != nil {
			stopLoad()
			<-loadDone
			return fmt.Errorf("good deploy %d of %d under load: %w", i+1, goodDeploys, err)
		}
		rolled := 0.0
		if r.result("platform-demo") != "deployed" {
			rolled = 1
		}
		rollbacks = append(rollbacks, rolled)
		walls = append(walls, seconds(r.wall))
		lives = append(lives, r.summary.Live)
		verdicts = append(verdicts, r.summary.Verdict)
		soaks = append(soaks, r.stage("soak"))
		fmt.Fprintf(b.opts.Out, "bench 10: good deploy %d/%d under load: %s, push→live %.2fs, push→verdict %.2fs\n", i+1, goodDeploys, r.result("platform-demo"), r.summary.Live, r.summary.Verdict)
	}
	stopLoad()
	if err := <-loadDone; err != nil && !errors.Is(err, context.Canceled) && lctx.Err() == nil {
		return fmt.Errorf("the load on staging: %w", err)
	}

	offM := newMeasure(soakGoodGroup, "mage ci wall, VERIFY_SOAK=0, same change", UnitSeconds, withOff, nil, nil).sub()
	b.add(newMeasure(soakGoodGroup, fmt.Sprintf("rollbacks in %d good deploys in a row under %s", goodDeploys, load.name()), UnitNumber, []float64{sum(rollbacks)}, nil, &Goal{Limit: 0, Worst: true}),
		newMeasure(soakGoodGroup, "push→live (first answer of the new commit)", UnitSeconds, lives, nil, nil).sub(),
		newMeasure(soakGoodGroup, "push→verdict (soak passed)", UnitSeconds, verdicts, nil, nil).sub(),
		newMeasure(soakGoodGroup, "stage soak", UnitSeconds, soaks, nil, nil).sub(),
		newMeasure(soakGoodGroup, "mage ci wall, under load", UnitSeconds, walls, nil, nil).sub(),
		newMeasure(soakGoodGroup, fmt.Sprintf("mage ci wall added by the soak (VERIFY_SOAK=%s), no load", soakFor), UnitSeconds, added, nil, &Goal{Limit: (soakFor + time.Second).Seconds()}),
		offM)

	// Bad versions: caught, rolled back, the run fails.
	for _, bad := range []struct {
		group, rate string
		detect      *Goal
	}{
		{soakDetectGroup, "1", &Goal{Limit: (2 * interval).Seconds(), Worst: true}},
		{soakTenGroup, "0.1", &Goal{Limit: soakFor.Seconds(), Worst: true}},
	} {
		var caught, detect, fromLive, rollback []float64
		for i := range b.opts.Runs {
			if err := ws.apply(ctx, faultEdit(bad.rate)); err != nil {
				return err
			}
			r, exit, err := ci.runMayFail(ctx, ws)
			if err != nil {
				return err
			}
			ok := exit != nil && r.result("platform-demo") == "rolled back"
			caught = append(caught, map[bool]float64{true: 1, false: 0}[ok])
			if ok {
				detect = append(detect, r.stage("soak"))
				fromLive = append(fromLive, r.summary.Verdict-r.summary.Live)
				rollback = append(rollback, r.stage("rollback"))
			}
			fmt.Fprintf(b.opts.Out, "bench %s: FAULT_ERROR_RATE=%s %d/%d: %s, soak %.3fs, rollback %.3fs\n", bad.group[:2], bad.rate, i+1, b.opts.Runs, r.result("platform-demo"), r.stage("soak"), r.stage("rollback"))
		}
		b.add(newMeasure(bad.group, "caught and rolled back (1 = yes)", UnitNumber, caught, nil, &Goal{Limit: 1, AtLeast: true, Worst: true}),
			newMeasure(bad.group, "detection: soak start → breach", UnitSeconds, detect, nil, bad.detect).sub(),
			newMeasure(bad.group, "first live answer → breach", UnitSeconds, fromLive, nil, nil).sub(),
			newMeasure(bad.group, "rollback: breach → previous commit verified live", UnitSeconds, rollback, nil, &Goal{Limit: 5, Worst: true}).sub())
	}
	b.note("soak: VERIFY_SOAK=%s, VERIFY_SOAK_INTERVAL=%s (the local loop's), `go tool mage local` serving staging; the bad versions set FAULT_ERROR_RATE in main, with no load (the probes alone judge them)", soakFor, interval)
	return nil
}

// stage is how long the run's stage of that name took, 0 when it did not
// run.
func (r ciRun) stage(name string) float64 {
	for _, st := range r.summary.Stages {
		if st.Name == name {
			return st.Seconds
		}
	}
	return 0
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}
