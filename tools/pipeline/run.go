package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// Options configures Run.
type Options struct {
	// Settings is the resolved configuration.
	Settings config.Settings
	// Build is the commit being taken live.
	Build buildinfo.Info
	// Gate runs the test stage and returns what it did, in one line; nil
	// reports the stage skipped (a test that drives the later stages).
	Gate func(context.Context) (string, error)
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Run takes opts.Build live: the gate (the tests) and the image build side
// by side, then, once both passed, push, bump, refresh (Argo CD) or rollout
// (local loop), and verify. Nothing is pushed or bumped for a commit whose
// gate failed. A run that Settings.Deploys says not to deploy (a pull
// request) is the gate alone. Run stops at the first failed stage and names
// it; the summary covers every stage reached, and the local parts it
// started are stopped before it returns.
func Run(ctx context.Context, opts Options) (Summary, error) {
	s := opts.Settings
	p := New(s, opts.Logger)
	defer p.Close(context.WithoutCancel(ctx))
	deploy, why := s.Deploys()
	r := &run{sum: Summary{Environment: s.Environment, Mode: s.Mode(), Commit: opts.Build.Commit, Version: opts.Build.Version, Deploy: deploy, Why: why}, start: time.Now(), log: p.log}

	if !deploy {
		if err := r.gate(ctx, opts.Gate); err != nil {
			return r.done(err)
		}
		r.skip("deploy", why)
		return r.done(nil)
	}

	// The tests and the image build only read the commit: run them side by
	// side, and push nothing unless both pass.
	var built *publish.Built
	var gateErr, buildErr error
	gctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { gateErr = r.gate(gctx, opts.Gate) })
	buildErr = r.stage("build", func() (string, error) {
		var err error
		built, err = p.Build(gctx, opts.Build)
		if err != nil {
			cancel() // no image to push: the tests' verdict would change nothing
			return "", err
		}
		return "image built; pushed once the tests pass", nil
	})
	wg.Wait()
	cancel()
	if err := errors.Join(gateErr, buildErr); err != nil {
		return r.done(err)
	}

	var image string
	if err := r.stage("push", func() (string, error) {
		res, err := built.Push(ctx)
		image = res.Ref
		return res.Ref, err
	}); err != nil {
		return r.done(err)
	}
	r.sum.Image = image

	// A newer commit deployed already is success: this run stands down.
	return p.afterBump(ctx, r, p.deployOptions(image, opts.Build), func(bump.Result) error { return nil })
}

// deploy makes the bumped manifest live and proves it: the local rollout
// or an Argo CD refresh, then verify that commit answers. It is what ci,
// promote and rollback do after their bump.
func (p *Pipeline) deploy(ctx context.Context, r *run, commit string) error {
	s := p.s
	switch {
	case s.LocalGitops():
		if err := r.stage("rollout", func() (string, error) { return p.rolloutDetail(ctx) }); err != nil {
			return err
		}
	case s.ArgoConfigured():
		if err := r.stage("refresh", func() (string, error) {
			return "Argo CD application " + s.ArgoApp + " refreshed", p.Refresh(ctx)
		}); err != nil {
			return err
		}
	default:
		r.skip("refresh", "ARGOCD_SERVER not set: Argo CD finds the bump on its next poll of git (about 3 min)")
	}

	if p.VerifyURL() == "" {
		// A hosted runner usually cannot reach a home cluster's ingress.
		r.skip("verify", s.VarFor("VERIFY_URL")+" not set: nothing to poll from here")
		return nil
	}
	return r.stage("verify", func() (string, error) {
		started := time.Now()
		res, err := p.verifyDeployed(ctx, commit)
		if err != nil && ctx.Err() != nil {
			return "", fmt.Errorf("interrupted while verifying that %s answers %s: git deploys it, and the rollout goes on without this check (go tool mage status shows what answers)",
				s.Environment, short(commit))
		}
		if err != nil {
			return "", err
		}
		// Live counts to the first of the consecutive answers, not to the
		// last one verify waited for to be sure.
		r.mu.Lock()
		r.sum.LiveCommit = res.LastLive
		r.sum.Live = started.Add(res.Elapsed).Sub(r.start)
		r.mu.Unlock()
		return fmt.Sprintf("%s live at %s after %d polls", short(commit), secret.URL(p.VerifyURL()), res.Polls), nil
	})
}

// rolloutDetail rolls the gitops head out on this machine and says how.
func (p *Pipeline) rolloutDetail(ctx context.Context) (string, error) {
	res, err := p.Rollout(ctx)
	switch {
	case err != nil:
		return "", err
	case res.Image == "":
		return "left to the running `mage local`", nil
	case !res.Changed:
		return "already live: " + res.Image, nil
	case res.PID == 0:
		return fmt.Sprintf("podman pod ready in %s", res.Ready.Round(time.Millisecond)), nil
	}
	return fmt.Sprintf("pid %d ready in %s", res.PID, res.Ready.Round(time.Millisecond)), nil
}

type run struct {
	mu    sync.Mutex // the gate and the build record stages side by side
	sum   Summary
	start time.Time
	log   *slog.Logger
}

// gate runs the test stage, or records it skipped.
func (r *run) gate(ctx context.Context, gate func(context.Context) (string, error)) error {
	if gate == nil {
		r.skip("test", "not run by this caller")
		return nil
	}
	return r.stage("test", func() (string, error) { return gate(ctx) })
}

// stage runs fn as the named stage and records it.
func (r *run) stage(name string, fn func() (string, error)) error {
	r.log.Info("stage", "name", name)
	start := time.Now()
	detail, err := fn()
	st := Stage{Name: name, Status: StatusOK, Start: start.Sub(r.start), Duration: time.Since(start), Detail: detail}
	if err != nil {
		st.Status, st.Detail = StatusFailed, err.Error()
		if errors.Is(err, context.Canceled) && name == "test" {
			st.Status, st.Detail = StatusSkipped, "stopped: the image build failed"
			err = nil
		} else {
			err = &StageError{Stage: name, Err: err}
		}
	}
	r.mu.Lock()
	r.sum.Stages = append(r.sum.Stages, st)
	r.mu.Unlock()
	return err
}

func (r *run) skip(name, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Stages = append(r.sum.Stages, Stage{Name: name, Status: StatusSkipped, Start: time.Since(r.start), Detail: why})
}

func (r *run) done(err error) (Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Total = time.Since(r.start)
	// The stages that ran side by side finish in either order; the summary
	// lists them in the pipeline's.
	slices.SortStableFunc(r.sum.Stages, func(a, b Stage) int { return stageOrder[a.Name] - stageOrder[b.Name] })
	return r.sum, err
}

// stageOrder is the order of the stages in a summary.
var stageOrder = map[string]int{"check": 1, "pick": 1, "test": 1, "build": 2, "push": 3, "bump": 4, "deploy": 5, "rollout": 5, "refresh": 5, "verify": 6}

// StageError names the stage a run failed at. Its message is the stage's
// own error, which names what failed already (the summary names the stage).
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Err.Error() }

func (e *StageError) Unwrap() error { return e.Err }
