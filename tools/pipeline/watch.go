package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// verifyDeployed waits until commit is live, as Verify does, and stops
// when the target's manifest no longer deploys it: another bump or
// rollback replaced it (or won the race to it), and nothing will make
// commit live here. It asks git every ten polls, at least a second apart
// on this machine and five seconds apart on a remote (each question costs
// the API two requests), at most 30s: a verify that succeeds at once asks
// nothing.
func (d *Deployment) verifyDeployed(ctx context.Context, commit string) (verify.Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	floor := 5 * time.Second
	if d.p.s.LocalGitops() {
		floor = time.Second
	}
	every := min(max(10*d.p.s.VerifyInterval, floor), 30*time.Second)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := d.stillDeploys(ctx, commit); err != nil {
				cancel(err)
				return
			}
		}
	}()
	res, err := d.Verify(ctx, commit)
	cancel(nil)
	<-watched
	var replaced *ReplacedError
	if cause := context.Cause(ctx); err != nil && errors.As(cause, &replaced) {
		return res, replaced
	}
	return res, err
}

// ReplacedError says that git no longer deploys the commit a run waits for.
type ReplacedError struct {
	Environment, Path string
	// Wanted is the commit waited for; Now the revision that replaced it.
	Wanted string
	Now    bump.Revision
}

func (e *ReplacedError) Error() string {
	now := short(e.Now.SourceCommit)
	if now == "" {
		now = e.Now.Image
	}
	return fmt.Sprintf("the manifest of %s no longer deploys %s: it deploys %s since gitops %s (%s); another bump or rollback replaced it, so nothing will make %s live there (go tool mage status shows what runs)",
		e.Environment, short(e.Wanted), now, short(e.Now.Commit), e.Now.Time.Format(time.RFC3339), short(e.Wanted))
}

// stillDeploys returns a *ReplacedError when the target's manifest deploys
// another commit than commit, and nil otherwise, also when git cannot be
// asked now: verify goes on, and its own timeout still bounds it.
func (d *Deployment) stillDeploys(ctx context.Context, commit string) error {
	revs, err := d.History(ctx, 1)
	if err != nil || len(revs) == 0 || revs[0].SourceCommit == commit {
		return nil
	}
	return &ReplacedError{Environment: d.t.Name(), Path: d.t.Path, Wanted: commit, Now: revs[0]}
}

// unreadable reports whether err says that a manifest cannot be read.
func unreadable(err error) bool {
	for _, e := range []error{manifest.ErrNotYAML, manifest.ErrNoWorkload, manifest.ErrContainerNotFound, manifest.ErrAmbiguous} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// manifestError says that the target's manifest cannot be read at rev, why
// (with the line, when the file is not YAML), and what fixes it.
func (d *Deployment) manifestError(rev bump.Revision) error {
	return fmt.Errorf("the manifest of %s, %s, cannot be read at gitops %s: %w: %s",
		d.t.Name(), d.t.Path, short(rev.Commit), rev.Problem, d.manifestFix(rev.Problem, rev.Commit))
}

// manifestFix names what makes a manifest the pipeline cannot read
// readable again; commit, when known, is the gitops commit it was read at.
func (d *Deployment) manifestFix(err error, commit string) string {
	t := d.t
	if errors.Is(err, manifest.ErrContainerNotFound) || errors.Is(err, manifest.ErrAmbiguous) {
		fix := "set " + t.Var("GITOPS_CONTAINER") + " (or container in services/" + t.Service.Name + "/service.yaml"
		if t.Environment != config.DefaultEnvironment {
			fix += ", or of " + t.Environment + " in " + config.EnvironmentsFile
		}
		return fix + ") to the container to bump, or name the container as before"
	}
	fix := "fix the file in the gitops repository"
	if commit != "" {
		fix += ", or revert the commit that broke it (git revert " + short(commit) + ")"
	}
	return fix
}

// checkMerged says which command proves a bump live once its pull request
// is merged: `go tool mage verify` waits for a service's stamp on the first
// environment, which is what `mage ci` deploys there; any other bump (a
// promotion, a rollback, another environment) shows in `go tool mage
// status`, in sync once the environment answers what git deploys.
func (d *Deployment) checkMerged(action string) string {
	if d.t.First() && (action == "" || action == "deploy") {
		return "go tool mage verify -service=" + d.t.Service.Name + " proves it live"
	}
	return "go tool mage status -service=" + d.t.Service.Name + " shows whether " + d.t.Environment + " answers it (in sync)"
}

// mergedAdvice names, in an error of the bump's pull-request code, the
// command that proves this bump live once merged: that code names `go
// tool mage verify` for every bump.
func (d *Deployment) mergedAdvice(err error, action string) error {
	const generic = "verify after (go tool mage verify)"
	if !strings.Contains(err.Error(), generic) {
		return err
	}
	return &advisedError{msg: strings.Replace(err.Error(), generic, "then "+d.checkMerged(action), 1), err: err}
}

// advisedError is err with the advice of its message replaced by the
// edge's, which knows the target.
type advisedError struct {
	msg string
	err error
}

func (e *advisedError) Error() string { return e.msg }
func (e *advisedError) Unwrap() error { return e.err }
