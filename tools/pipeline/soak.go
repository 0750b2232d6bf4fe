package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/argocd"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// The verdicts of the soak live on the workload's own metadata in the
// gitops manifest (never on the pod template: recording one restarts
// nothing): the last image that passed its soak in the environment, and
// the last one that failed it. A promotion reads them in the environment
// it takes the image from; status shows them.
const (
	verdictPrefix = "platform-demo.dev/"
	// Passed and failed are the two verdicts.
	VerdictPassed = "passed"
	VerdictFailed = "failed"
)

// Verdict is one recorded verdict of a soak.
type Verdict struct {
	// Result is VerdictPassed or VerdictFailed.
	Result string `json:"result"`
	// Image is the image judged, pinned by digest; Commit its source
	// commit.
	Image  string `json:"image"`
	Commit string `json:"commit,omitempty"`
	// At is when the soak ended.
	At time.Time `json:"at"`
	// Detail gives the figures, or the check that failed and its figures.
	Detail string `json:"detail"`
}

// annotations are the manifest annotations that record v.
func (v Verdict) annotations() map[string]string {
	p := verdictPrefix + v.Result + "-"
	return map[string]string{
		p + "image":  v.Image,
		p + "commit": v.Commit,
		p + "at":     v.At.UTC().Format(time.RFC3339),
		p + "detail": bump.OneLine(v.Detail),
	}
}

// Verdicts are the two verdicts a manifest records.
type Verdicts struct {
	Passed, Failed *Verdict
}

// ReadVerdicts reads the verdicts of a manifest's annotations.
func ReadVerdicts(ann map[string]string) Verdicts {
	read := func(result string) *Verdict {
		p := verdictPrefix + result + "-"
		if ann[p+"image"] == "" {
			return nil
		}
		at, _ := time.Parse(time.RFC3339, ann[p+"at"])
		return &Verdict{Result: result, Image: ann[p+"image"], Commit: ann[p+"commit"], At: at, Detail: ann[p+"detail"]}
	}
	return Verdicts{Passed: read(VerdictPassed), Failed: read(VerdictFailed)}
}

// Of returns the verdict recorded on image, nil when none is.
func (vs Verdicts) Of(image string) *Verdict {
	switch {
	case vs.Failed != nil && vs.Failed.Image == image && (vs.Passed == nil || vs.Passed.Image != image || vs.Failed.At.After(vs.Passed.At)):
		return vs.Failed
	case vs.Passed != nil && vs.Passed.Image == image:
		return vs.Passed
	}
	return nil
}

// Last returns the newer of the two verdicts, nil when none is recorded.
func (vs Verdicts) Last() *Verdict {
	switch {
	case vs.Passed == nil:
		return vs.Failed
	case vs.Failed == nil || vs.Passed.At.After(vs.Failed.At):
		return vs.Passed
	}
	return vs.Failed
}

// soaks reports whether a release that does action is soaked: a deploy
// or a promotion, when VERIFY_SOAK is not 0. A rollback goes back to a
// version that ran before; it is verified, not judged again.
func (d *Deployment) soaks(action string) bool {
	return d.p.s.VerifySoak > 0 && (action == "" || action == "deploy" || action == "promote")
}

// soak watches the target's service, live at commit, for VERIFY_SOAK.
func (d *Deployment) soak(ctx context.Context, commit string) (verify.SoakResult, error) {
	s, t := d.p.s, d.t
	opts := verify.SoakOptions{
		URL: d.VerifyURL(), Commit: commit, Duration: s.VerifySoak, Interval: s.VerifySoakInterval,
		Paths: t.Service.Probes(), MaxErrorRate: s.VerifyMaxErrorRate,
		// The local loop runs one process per service and environment.
		OneProcess: t.VerifyURL == "" && s.LocalGitops(),
	}
	if s.ArgoConfigured(t) {
		opts.Health = func(ctx context.Context) (string, error) {
			st, err := argocd.Status(ctx, argocd.Options{Server: s.ArgoServer, Token: s.ArgoToken, App: t.ArgoApp})
			return st.Health, err
		}
	}
	return verify.Soak(ctx, opts)
}

// judge soaks the release opts made, verified live, and acts on the
// verdict: a pass is recorded in the manifest; a breach rolls the
// environment back to what it ran before (VERIFY_ROLLBACK=auto), through
// the guarded bump, with the failed check and its figures in the gitops
// commit, or (off) is recorded. It returns the error the run fails with.
func (d *Deployment) judge(ctx context.Context, r *run, opts bump.Options) error {
	svc, t := d.t.Service.Name, d.t
	var res verify.SoakResult
	superseded := false
	err := r.stage(svc, "soak", func() (string, error) {
		var err error
		res, err = d.soak(ctx, opts.SourceCommit)
		var sup *verify.SupersededError
		if errors.As(err, &sup) {
			superseded = true
			return "no verdict: " + sup.Error(), nil
		}
		if err != nil && ctx.Err() != nil {
			return "", fmt.Errorf("interrupted during the soak of %s: it stays live, with no verdict recorded (go tool mage status shows it)", short(opts.SourceCommit))
		}
		return res.String(), err
	})
	var breach *verify.BreachError
	switch {
	case errors.As(err, &breach):
	case err != nil:
		return err
	case superseded:
		return nil
	default:
		v := Verdict{Result: VerdictPassed, Image: opts.Image, Commit: opts.SourceCommit, At: time.Now(), Detail: res.String()}
		r.set(svc, func(sr *ServiceResult) {
			sr.Verdict, sr.VerdictDetail, sr.Judged = v.Result, v.Detail, time.Since(r.start)
			sr.Detail += fmt.Sprintf("; soak passed (%s)", res.Elapsed.Round(100*time.Millisecond))
		})
		// A verdict that cannot be written fails no deploy: the version
		// is live and sound; promote will ask for it.
		_ = r.stage(svc, "record", func() (string, error) { return d.record(ctx, opts, v) })
		return nil
	}

	v := Verdict{Result: VerdictFailed, Image: opts.Image, Commit: opts.SourceCommit, At: time.Now(), Detail: breach.Check + ": " + breach.Detail}
	r.set(svc, func(sr *ServiceResult) {
		sr.Verdict, sr.VerdictDetail, sr.Judged = v.Result, v.Detail, time.Since(r.start)
	})
	was := r.get(svc)
	prev, prevCommit := was.Replaced, was.ReplacedCommit
	switch {
	case d.p.s.VerifyRollback == config.RollbackOff:
		_ = r.stage(svc, "record", func() (string, error) { return d.record(ctx, opts, v) })
		return fmt.Errorf("%w; VERIFY_ROLLBACK=off, so %s keeps running it: go tool mage rollback -env=%s -service=%s puts the previous image back", breach, t.Name(), t.Environment, svc)
	case prev == "" || prevCommit == "":
		_ = r.stage(svc, "record", func() (string, error) { return d.record(ctx, opts, v) })
		return fmt.Errorf("%w; nothing to roll back to: the manifest deployed no earlier image of this pipeline before it; fix the service and deploy again", breach)
	}

	var back bump.Result
	var live verify.Result
	rerr := r.stage(svc, "rollback", func() (string, error) {
		o := d.gitopsOptions()
		o.Image, o.SourceCommit, o.Expect = prev, prevCommit, opts.Image
		o.Force, o.Action, o.Annotations = true, "roll back to", v.annotations()
		o.Reason = fmt.Sprintf("automatic: the soak of %s failed: %s", short(opts.SourceCommit), v.Detail)
		var err error
		back, err = d.change(ctx, o)
		switch {
		case err != nil:
			return "", err
		case back.Outcome == bump.Moved:
			return "not rolled back: " + back.String() + " (another deploy replaced it meanwhile)", nil
		case back.Outcome == bump.Proposed:
			return "", fmt.Errorf("the rollback waits in a pull request (%s): nothing goes back until it merges; merge it, or set BUMP_MERGE=1 so that a rollback merges itself", back.String())
		}
		if err := d.redeploy(ctx); err != nil {
			return "", err
		}
		if d.VerifyURL() == "" {
			return fmt.Sprintf("back to %s (%s): gitops %s; not verified from here", short(prevCommit), prev, short(back.Commit)), nil
		}
		live, err = d.verifyDeployed(ctx, prevCommit)
		if err != nil {
			return "", fmt.Errorf("rolled back to %s (gitops %s), but it is not verified live: %w", short(prevCommit), short(back.Commit), err)
		}
		return fmt.Sprintf("back to %s (%s): gitops %s; live at %s after %d polls", short(prevCommit), prev, short(back.Commit), secret.URL(d.VerifyURL()), live.Polls), nil
	})
	if rerr != nil {
		return fmt.Errorf("%w; the automatic rollback failed: %w", breach, rerr)
	}
	if back.Outcome == bump.Moved {
		return fmt.Errorf("%w; not rolled back: %s", breach, back.String())
	}
	return &RolledBackError{Breach: breach, Commit: opts.SourceCommit, To: prevCommit, GitopsCommit: back.Commit, Where: d.VerifyURL()}
}

// redeploy makes the manifest's head live after a rollback: the local
// rollout, or an Argo CD refresh.
func (d *Deployment) redeploy(ctx context.Context) error {
	s := d.p.s
	switch {
	case s.LocalGitops():
		_, err := d.Rollout(ctx)
		return err
	case s.ArgoConfigured(d.t):
		return d.Refresh(ctx)
	}
	return nil
}

// record writes v on the target's manifest, as long as it still deploys
// the image v is about.
func (d *Deployment) record(ctx context.Context, opts bump.Options, v Verdict) (string, error) {
	o := d.gitopsOptions()
	o.Image, o.SourceCommit, o.Expect = opts.Image, opts.SourceCommit, opts.Image
	o.Action, o.Reason, o.Annotations = "verdict on", "soak "+v.Result+": "+v.Detail, v.annotations()
	o.DryRun = d.p.s.BumpDryRun
	res, err := d.change(ctx, o)
	switch {
	case err != nil:
		return "", fmt.Errorf("record the verdict (%s) in %s: %w", v.Result, d.t.Path, err)
	case res.Outcome == bump.Moved:
		return "not recorded: " + res.String(), nil
	case res.Outcome == bump.Committed:
		return fmt.Sprintf("%s recorded in %s: gitops %s", v.Result, d.t.Path, short(res.Commit)), nil
	}
	return res.String(), nil
}

// RolledBackError is a release whose soak failed and that was rolled back:
// the run fails, and says what is live now.
type RolledBackError struct {
	Breach *verify.BreachError
	// Commit is the commit that failed; To the one live again, by gitops
	// GitopsCommit, at Where.
	Commit, To, GitopsCommit, Where string
}

func (e *RolledBackError) Error() string {
	s := fmt.Sprintf("%s failed its soak: %s: %s; rolled back to %s (gitops %s)", short(e.Commit), e.Breach.Check, e.Breach.Detail, short(e.To), short(e.GitopsCommit))
	if e.Where != "" {
		s += ", live at " + secret.URL(e.Where)
	}
	return s
}

func (e *RolledBackError) Unwrap() error { return e.Breach }
