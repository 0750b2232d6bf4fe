package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/publish"
	"github.com/andrelair-platform/platform-demo/tools/service"
	"github.com/andrelair-platform/platform-demo/tools/stamp"
)

// Options configures Run.
type Options struct {
	// Settings is the resolved configuration.
	Settings config.Settings
	// Build is the commit the run starts at (HEAD, or GITHUB_SHA).
	Build buildinfo.Info
	// Gate runs the test stage and returns what it did, in one line; nil
	// reports the stage skipped (a test that drives the later stages).
	Gate func(context.Context) (string, error)
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Run takes live, in the first environment, every service the commit
// changes, and nothing else. It stamps each service with the commit that
// last changed it (tools/stamp) and reads what the environment runs: a
// service the environment runs at its stamp already is unchanged. The
// changed services build side by side (as many at once as there are CPUs),
// beside the gate (the tests); once the gate passed, each is pushed,
// bumped (unless the environment already runs that very digest), rolled
// out or refreshed in Argo CD, and verified, side by side. One failing
// service does not stop the others; the error names each that failed.
// Nothing is pushed or bumped for a commit whose gate failed. A run that
// Settings.Deploys says not to deploy (a pull request) is the gate alone.
// The local parts it started are stopped before it returns.
func Run(ctx context.Context, opts Options) (Summary, error) {
	s := opts.Settings
	p := New(s, opts.Logger)
	defer p.Close(context.WithoutCancel(ctx))
	deploy, why := s.Deploys()
	r := newRun(Summary{Mode: s.Mode(), Commit: opts.Build.Commit, Version: opts.Build.Version, Deploy: deploy, Why: why}, p.log)
	if !deploy {
		if err := r.gate(ctx, opts.Gate); err != nil {
			return r.done(err)
		}
		r.skip("", "deploy", why)
		return r.done(nil)
	}
	r.sum.Environment = s.First().Name
	targets, err := s.Targets(s.First().Name, "")
	if err != nil {
		return r.done(err)
	}
	for _, t := range targets {
		r.result(t.Service.Name) // every service gets its row, in order
	}

	// The tests run from the start; the plan and the builds go beside them.
	// A failed gate stops the builds: nothing of theirs would be pushed.
	gctx, cancelGate := context.WithCancel(ctx)
	defer cancelGate()
	bctx, cancelBuilds := context.WithCancel(ctx)
	defer cancelBuilds()
	gateDone := make(chan error, 1)
	go func() {
		err := r.gate(gctx, opts.Gate)
		if err != nil {
			cancelBuilds()
		}
		gateDone <- err
	}()

	var plan []planned
	if err := r.stage("", "plan", func() (string, error) {
		var err error
		plan, err = p.plan(ctx, targets)
		return planDetail(plan), err
	}); err != nil {
		cancelGate()
		<-gateDone
		return r.done(err)
	}
	for _, pl := range plan {
		switch {
		case pl.err != nil:
			r.fail(pl.t.Service.Name, pl.stamp.Commit, pl.err)
		case !pl.changed:
			r.set(pl.t.Service.Name, func(res *ServiceResult) {
				res.Result, res.Commit, res.Image = Unchanged, pl.stamp.Commit, pl.current.Image
				res.Detail = fmt.Sprintf("%s runs it: no file it is built from changed since %s (%s)", pl.t.Environment, short(pl.stamp.Commit), orDash(pl.stamp.Changed))
			})
		}
	}

	// Build what changed, as many at once as there are CPUs.
	built := map[string]*publish.Built{}
	var mu sync.Mutex
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	var wg sync.WaitGroup
	for _, pl := range plan {
		if !pl.changed || pl.err != nil {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d := p.Deployment(pl.t)
			var b *publish.Built
			err := r.stage(pl.t.Service.Name, "build", func() (string, error) {
				var err error
				b, err = d.Build(bctx, pl.stamp)
				if err != nil {
					return "", err
				}
				return "image of " + pl.stamp.Version + " built; pushed once the tests pass", nil
			})
			if err != nil {
				r.fail(pl.t.Service.Name, pl.stamp.Commit, err)
				return
			}
			mu.Lock()
			built[pl.t.Service.Name] = b
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(built) == 0 && r.failures() > 0 {
		cancelGate() // nothing to push: the tests' verdict would change nothing
	}
	if err := <-gateDone; err != nil {
		for _, pl := range plan {
			if pl.changed && pl.err == nil {
				r.skipService(pl.t.Service.Name, pl.stamp.Commit, "not deployed: the tests failed")
			}
		}
		return r.done(errors.Join(err, r.err()))
	}

	// Ship each built service side by side.
	for _, pl := range plan {
		b := built[pl.t.Service.Name]
		if b == nil {
			continue
		}
		wg.Go(func() { p.Deployment(pl.t).ship(ctx, r, pl, b) })
	}
	wg.Wait()
	return r.done(r.err())
}

// planned is what the plan decided for one service.
type planned struct {
	t       config.Target
	stamp   stamp.Stamp
	current manifest.Current
	changed bool
	err     error
}

// plan stamps every service and reads what the environment runs of each:
// a service whose stamp the environment runs is unchanged.
func (p *Pipeline) plan(ctx context.Context, targets []config.Target) ([]planned, error) {
	stamps, err := p.Stamps(ctx, serviceList(targets))
	if err != nil {
		return nil, err
	}
	out := make([]planned, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		out[i] = planned{t: t, stamp: stamps[t.Service.Name]}
		wg.Go(func() {
			pl := &out[i]
			d := p.Deployment(t)
			if err := p.InitGitops(ctx, t.Branch, t.Path); err != nil {
				pl.err = err
				return
			}
			pl.current, pl.err = bump.Current(ctx, d.gitopsOptions())
			if pl.err != nil {
				pl.err = fmt.Errorf("read what %s runs: %w", t.Environment, pl.err)
			}
			pl.changed = pl.err == nil && (pl.stamp.Dirty || !strings.EqualFold(pl.current.SourceCommit, pl.stamp.Commit))
		})
	}
	wg.Wait()
	return out, nil
}

// planDetail says what the plan found, in one line.
func planDetail(plan []planned) string {
	var changed []string
	for _, pl := range plan {
		if pl.changed {
			changed = append(changed, pl.t.Service.Name)
		}
	}
	switch {
	case len(plan) == 0:
		return "no services"
	case len(changed) == 0:
		return fmt.Sprintf("no service changed (of %d): nothing to build or deploy", len(plan))
	}
	return fmt.Sprintf("%d of %d services changed: %s", len(changed), len(plan), strings.Join(changed, ", "))
}

// ship pushes a built image of one service, then bumps, deploys and
// verifies it, unless the environment runs that very digest already.
func (d *Deployment) ship(ctx context.Context, r *run, pl planned, b *publish.Built) {
	svc := d.t.Service.Name
	var pushed publish.Result
	if err := r.stage(svc, "push", func() (string, error) {
		var err error
		pushed, err = b.Push(ctx)
		return pushed.Ref, err
	}); err != nil {
		r.fail(svc, pl.stamp.Commit, err)
		return
	}
	r.set(svc, func(res *ServiceResult) { res.Image, res.Commit = pushed.Ref, pl.stamp.Commit })
	// Ground truth over the change analysis: the digest the environment
	// runs is never bumped, so nothing restarts for nothing.
	if _, digest, ok := strings.Cut(pl.current.Image, "@"); ok && digest == pushed.Digest {
		r.set(svc, func(res *ServiceResult) {
			res.Result = Unchanged
			res.Detail = fmt.Sprintf("rebuilt to the digest %s runs (%s): nothing to bump", d.t.Environment, shortDigest(digest))
		})
		return
	}
	opts := d.gitopsOptions()
	opts.Image, opts.SourceCommit = pushed.Ref, pl.stamp.Commit
	opts.Force, opts.DryRun = d.p.s.BumpForce, d.p.s.BumpDryRun
	d.release(ctx, r, opts, nil)
}

// release makes the bump opts describe, refused when refuse says so, then,
// unless the bump left nothing to make live, the rollout or refresh and
// verify. It records the stages and the service's result in r.
func (d *Deployment) release(ctx context.Context, r *run, opts bump.Options, refuse func(bump.Result) error) {
	svc := d.t.Service.Name
	var res bump.Result
	if err := r.stage(svc, "bump", func() (string, error) {
		var err error
		res, err = d.change(ctx, opts)
		if err != nil && opts.Mode == bump.ModePR {
			err = d.mergedAdvice(err, opts.Action)
		}
		if err == nil && refuse != nil {
			err = refuse(res)
		}
		return res.String(), err
	}); err != nil {
		r.fail(svc, opts.SourceCommit, err)
		return
	}
	r.set(svc, func(sr *ServiceResult) {
		sr.Commit, sr.Image = opts.SourceCommit, opts.Image
		sr.GitopsCommit, sr.GitopsURL = res.Commit, res.URL
		if res.Outcome == bump.Committed || res.Outcome == bump.Merged {
			// Only a write that landed replaced what the manifest deployed:
			// not one up to date, stood down, dry or waiting in a review.
			sr.Replaced, sr.ReplacedCommit = res.Previous, res.PreviousCommit
		}
	})
	switch res.Outcome {
	case bump.NewerDeployed:
		r.set(svc, func(sr *ServiceResult) {
			sr.Result, sr.Detail = Newer, fmt.Sprintf("%s runs %s, newer: nothing to do", d.t.Environment, short(res.PreviousCommit))
		})
		return
	case bump.DryRun:
		r.set(svc, func(sr *ServiceResult) { sr.Result, sr.Detail = Skipped, "BUMP_DRY_RUN=1: nothing was written" })
		return
	case bump.Proposed:
		r.set(svc, func(sr *ServiceResult) {
			sr.Result, sr.PR, sr.PRURL, sr.Branch = Proposed, res.PR, res.PRURL, res.Branch
			sr.GitopsCommit, sr.GitopsURL = "", ""
			sr.Detail = proposedDetail(res, d.checkMerged(opts.Action))
		})
		return
	}
	if err := d.deploy(ctx, r, opts.SourceCommit); err != nil {
		r.fail(svc, opts.SourceCommit, err)
		return
	}
	r.set(svc, func(sr *ServiceResult) {
		sr.Result = Deployed
		if res.Outcome == bump.UpToDate {
			sr.Result = Unchanged
		}
		switch {
		case sr.LiveCommit != "":
			sr.Detail = fmt.Sprintf("live at %s", secret.URL(d.VerifyURL()))
		default:
			sr.Detail = "git deploys it; not verified from here (" + d.t.Var("VERIFY_URL") + " is not set)"
		}
		if res.Outcome == bump.UpToDate {
			sr.Detail = fmt.Sprintf("nothing changed: %s deployed %s (%s) already; %s", d.t.Environment, short(opts.SourceCommit), opts.Image, sr.Detail)
		}
	})
	// Live is not yet sound: what changed is watched for VERIFY_SOAK, and
	// rolled back when it does worse (docs/verify.md).
	changed := res.Outcome == bump.Committed || res.Outcome == bump.Merged
	if !changed || !d.soaks(opts.Action) || r.get(svc).LiveCommit == "" {
		return
	}
	if err := d.judge(ctx, r, opts); err != nil {
		r.fail(svc, opts.SourceCommit, err)
		var rb *RolledBackError
		if errors.As(err, &rb) {
			r.set(svc, func(sr *ServiceResult) { sr.Result, sr.RolledBackTo, sr.LiveCommit = RolledBack, rb.To, rb.To })
		}
	}
}

// proposedDetail says where a proposed change waits, and what proves it
// live once merged.
func proposedDetail(res bump.Result, check string) string {
	if res.PRURL == "" {
		return "waits on branch " + res.Branch + " for a pull request on the host; nothing is deployed until it merges; after its merge, " + check
	}
	return fmt.Sprintf("waits in pull request #%d (%s); nothing is deployed until it merges; after it, %s; or set BUMP_MERGE=1", res.PR, res.PRURL, check)
}

// deploy makes the bumped manifest live and proves it: the local rollout
// or an Argo CD refresh, then verify that commit answers.
func (d *Deployment) deploy(ctx context.Context, r *run, commit string) error {
	s, t := d.p.s, d.t
	svc := t.Service.Name
	switch {
	case s.LocalGitops():
		if err := r.stage(svc, "rollout", func() (string, error) { return d.rolloutDetail(ctx) }); err != nil {
			return err
		}
	case s.ArgoConfigured(t):
		if err := r.stage(svc, "refresh", func() (string, error) {
			return "Argo CD application " + t.ArgoApp + " refreshed", d.Refresh(ctx)
		}); err != nil {
			return err
		}
	default:
		r.skip(svc, "refresh", "ARGOCD_SERVER not set: Argo CD finds the bump on its next poll of git (about 3 min)")
	}

	if d.VerifyURL() == "" {
		// A hosted runner usually cannot reach a home cluster's ingress.
		r.skip(svc, "verify", t.Var("VERIFY_URL")+" not set: nothing to poll from here")
		return nil
	}
	return r.stage(svc, "verify", func() (string, error) {
		started := time.Now()
		res, err := d.verifyDeployed(ctx, commit)
		if err != nil && ctx.Err() != nil {
			return "", fmt.Errorf("interrupted while verifying that %s answers %s: git deploys it, and the rollout goes on without this check (go tool mage status shows what answers)",
				t.Name(), short(commit))
		}
		if err != nil {
			return "", err
		}
		// Live counts to the first of the consecutive answers, not to the
		// last one verify waited for to be sure.
		r.set(svc, func(sr *ServiceResult) {
			sr.LiveCommit = res.LastLive
			sr.Live = started.Add(res.Elapsed).Sub(r.start)
		})
		return fmt.Sprintf("%s live at %s after %d polls", short(commit), secret.URL(d.VerifyURL()), res.Polls), nil
	})
}

// run records the stages and results of one run.
type run struct {
	mu      sync.Mutex // stages and services are recorded side by side
	sum     Summary
	start   time.Time
	log     *slog.Logger
	order   []string
	results map[string]*ServiceResult
	errs    map[string]error
}

func newRun(sum Summary, log *slog.Logger) *run {
	return &run{sum: sum, start: time.Now(), log: log, results: map[string]*ServiceResult{}, errs: map[string]error{}}
}

// result returns the service's result, made on first use.
func (r *run) result(svc string) *ServiceResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resultLocked(svc)
}

func (r *run) resultLocked(svc string) *ServiceResult {
	res, ok := r.results[svc]
	if !ok {
		res = &ServiceResult{Service: svc, Result: Skipped}
		r.results[svc] = res
		r.order = append(r.order, svc)
	}
	return res
}

// get returns a copy of the service's result.
func (r *run) get(svc string) ServiceResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *r.resultLocked(svc)
}

// set changes the service's result.
func (r *run) set(svc string, f func(*ServiceResult)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.resultLocked(svc))
}

// skipService records that the run did not take the service live, and
// why, forgetting a failure the skip explains (a build stopped by it).
func (r *run) skipService(svc, commit, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.resultLocked(svc)
	res.Result, res.Detail, res.Commit = Skipped, why, commit
	delete(r.errs, svc)
}

// fail records that the service failed, with err.
func (r *run) fail(svc, commit string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.resultLocked(svc)
	res.Result, res.Detail = Failed, err.Error()
	if res.Commit == "" {
		res.Commit = commit
	}
	r.errs[svc] = err
}

func (r *run) failures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

// err names each service that failed, with its error.
func (r *run) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, svc := range r.order {
		if err, ok := r.errs[svc]; ok {
			errs = append(errs, &ServiceError{Service: svc, Err: err})
		}
	}
	return errors.Join(errs...)
}

// ServiceError names the service a stage failed for.
type ServiceError struct {
	Service string
	Err     error
}

func (e *ServiceError) Error() string { return e.Service + ": " + e.Err.Error() }

func (e *ServiceError) Unwrap() error { return e.Err }

// gate runs the test stage, or records it skipped.
func (r *run) gate(ctx context.Context, gate func(context.Context) (string, error)) error {
	if gate == nil {
		r.skip("", "test", "not run by this caller")
		return nil
	}
	return r.stage("", "test", func() (string, error) { return gate(ctx) })
}

// stage runs fn as the named stage of svc ("" for the run's) and records it.
func (r *run) stage(svc, name string, fn func() (string, error)) error {
	if svc == "" {
		r.log.Info("stage", "name", name)
	} else {
		r.log.Info("stage", "name", name, "service", svc)
	}
	start := time.Now()
	detail, err := fn()
	st := Stage{Service: svc, Name: name, Status: StatusOK, Start: start.Sub(r.start), Duration: time.Since(start), Detail: detail}
	if err != nil {
		st.Status, st.Detail = StatusFailed, err.Error()
		switch {
		case errors.Is(err, context.Canceled) && name == "test" && svc == "":
			st.Status, st.Detail = StatusSkipped, "stopped: no image was built"
		case errors.Is(err, context.Canceled) && name == "build":
			st.Status, st.Detail = StatusSkipped, "stopped before it finished"
			err = &StageError{Stage: name, Err: err}
		default:
			err = &StageError{Stage: name, Err: err}
		}
	}
	r.mu.Lock()
	r.sum.Stages = append(r.sum.Stages, st)
	r.mu.Unlock()
	if st.Status == StatusSkipped && name == "test" {
		return nil
	}
	return err
}

func (r *run) skip(svc, name, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Stages = append(r.sum.Stages, Stage{Service: svc, Name: name, Status: StatusSkipped, Start: time.Since(r.start), Detail: why})
}

func (r *run) done(err error) (Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Total = time.Since(r.start)
	// The stages that ran side by side finish in either order; the summary
	// lists the run's first, then each service's, in the pipeline's order.
	index := map[string]int{"": -1}
	for i, svc := range r.order {
		index[svc] = i
	}
	slices.SortStableFunc(r.sum.Stages, func(a, b Stage) int {
		if a.Service != b.Service {
			return index[a.Service] - index[b.Service]
		}
		return stageOrder[a.Name] - stageOrder[b.Name]
	})
	r.sum.Services = nil
	for _, svc := range r.order {
		r.sum.Services = append(r.sum.Services, *r.results[svc])
	}
	return r.sum, err
}

// stageOrder is the order of the stages in a summary.
var stageOrder = map[string]int{"test": 1, "plan": 2, "check": 3, "pick": 3, "build": 4, "push": 5, "bump": 6, "deploy": 7, "rollout": 7, "refresh": 7, "verify": 8, "soak": 9, "record": 10, "rollback": 11}

// StageError names the stage a run failed at. Its message is the stage's
// own error, which names what failed already (the summary names the stage).
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Err.Error() }

func (e *StageError) Unwrap() error { return e.Err }

// serviceList is the services of targets.
func serviceList(targets []config.Target) []service.Service {
	out := make([]service.Service, len(targets))
	for i, t := range targets {
		out[i] = t.Service
	}
	return out
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// shortDigest is a digest's algorithm and first 12 hex characters.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}
