package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
)

// Options configures Run.
type Options struct {
	// Settings is the resolved configuration.
	Settings config.Settings
	// Build is the commit being taken live.
	Build buildinfo.Info
	// Test runs the test stage; nil reports it skipped (the caller ran it, or
	// a test drives the later stages itself).
	Test func(context.Context) error
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Run takes opts.Build live: test, publish, bump, then refresh (Argo CD)
// or rollout (local loop), then verify. It stops at the first failed stage
// and names it. The summary covers every stage reached; the local parts it
// started are stopped before it returns.
func Run(ctx context.Context, opts Options) (Summary, error) {
	s := opts.Settings
	p := New(s, opts.Logger)
	defer p.Close(context.WithoutCancel(ctx))
	r := &run{sum: Summary{Mode: s.Mode(), Commit: opts.Build.Commit, Version: opts.Build.Version}, start: time.Now(), log: p.log}

	if opts.Test == nil {
		r.skip("test", "not run by this caller")
	} else if err := r.stage("test", func() (string, error) { return "all modules", opts.Test(ctx) }); err != nil {
		return r.done(err)
	}

	var image string
	if err := r.stage("publish", func() (string, error) {
		res, err := p.Publish(ctx, opts.Build)
		image = res.Ref
		return res.Ref, err
	}); err != nil {
		return r.done(err)
	}
	r.sum.Image = image

	var bumped bump.Result
	if err := r.stage("bump", func() (string, error) {
		var err error
		bumped, err = p.Bump(ctx, image, opts.Build)
		return bumped.String(), err
	}); err != nil {
		return r.done(err)
	}
	r.sum.GitopsCommit, r.sum.GitopsURL = bumped.Commit, bumped.URL
	if reason := stopReason(bumped); reason != "" {
		// Nothing this run could make live: a newer commit is deployed, or
		// this was a dry run. Later stages would wait for nothing.
		r.skip("deploy", reason)
		r.skip("verify", reason)
		return r.done(nil)
	}

	if s.LocalGitops() {
		if err := r.stage("rollout", func() (string, error) {
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
		}); err != nil {
			return r.done(err)
		}
	} else if s.ArgoConfigured() {
		if err := r.stage("refresh", func() (string, error) {
			_, err := p.Refresh(ctx)
			return "Argo CD application " + s.ArgoApp + " refreshed", err
		}); err != nil {
			return r.done(err)
		}
	} else {
		r.skip("refresh", "ARGOCD_SERVER not set: Argo CD finds the bump on its next poll of git (about 3 min)")
	}

	if p.VerifyURL() == "" {
		// A hosted runner usually cannot reach a home cluster's ingress.
		r.skip("verify", "VERIFY_URL not set: nothing to poll from here")
		return r.done(nil)
	}
	err := r.stage("verify", func() (string, error) {
		started := time.Now()
		res, err := p.Verify(ctx, opts.Build.Commit)
		if err != nil {
			return "", err
		}
		// Live counts to the first of the consecutive answers, not to the
		// last one verify waited for to be sure.
		r.sum.LiveCommit = res.LastLive
		r.sum.Live = started.Add(res.Elapsed).Sub(r.start)
		return fmt.Sprintf("%s live at %s after %d polls", opts.Build.Version, p.VerifyURL(), res.Polls), nil
	})
	return r.done(err)
}

type run struct {
	sum   Summary
	start time.Time
	log   *slog.Logger
}

// stage runs fn as the named stage and records it.
func (r *run) stage(name string, fn func() (string, error)) error {
	r.log.Info("stage", "name", name)
	start := time.Now()
	detail, err := fn()
	st := Stage{Name: name, Status: StatusOK, Duration: time.Since(start), Detail: detail}
	if err != nil {
		st.Status, st.Detail = StatusFailed, err.Error()
		err = &StageError{Stage: name, Err: err}
	}
	r.sum.Stages = append(r.sum.Stages, st)
	return err
}

func (r *run) skip(name, why string) {
	r.sum.Stages = append(r.sum.Stages, Stage{Name: name, Status: StatusSkipped, Detail: why})
}

func (r *run) done(err error) (Summary, error) {
	r.sum.Total = time.Since(r.start)
	return r.sum, err
}

// StageError names the stage a run failed at.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + " failed: " + e.Err.Error() }

func (e *StageError) Unwrap() error { return e.Err }

// IsStage reports whether err is a failure of the named stage.
func IsStage(err error, name string) bool {
	var se *StageError
	return errors.As(err, &se) && se.Stage == name
}
