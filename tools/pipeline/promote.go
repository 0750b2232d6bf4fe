package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
)

// CheckTimeout bounds the check that the environment a promotion takes its
// image from runs it: that environment is settled, so its answers either
// report the commit within a few polls or never will.
const CheckTimeout = 30 * time.Second

// PromoteOptions configures Promote.
type PromoteOptions struct {
	// Settings is the resolved configuration.
	Settings config.Settings
	// Target is the environment to promote to; its images come from the
	// environment before it.
	Target string
	// Service is the service to promote; empty means every service.
	Service string
	// Unsoaked, when set, is why an image whose soak in the environment
	// before failed or was never recorded is promoted all the same
	// (PROMOTE_UNSOAKED); it lands in the gitops commit.
	Unsoaked string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Promote takes exactly the image, by digest, and the source commit that
// the environment before Target deploys of each service (or of Service),
// once that environment's /version reports the commit in
// VERIFY_CONSECUTIVE answers in a row, to Target: the same guarded bump as
// a deploy, then the rollout or Argo CD refresh and verify. It never
// builds: the digest that was tested is the digest that ships. A service
// Target runs at that commit already is unchanged; one whose previous
// environment is not verified, or that Target runs newer, fails, naming
// why; the services go side by side and one failing stops no other.
func Promote(ctx context.Context, opts PromoteOptions) (Summary, error) {
	s := opts.Settings
	p := New(s, opts.Logger)
	defer p.Close(context.WithoutCancel(ctx))
	r := newRun(Summary{Action: "promote", Environment: opts.Target, Mode: s.Mode(), Deploy: true}, p.log)

	prev, err := s.Previous(opts.Target)
	if err != nil {
		return r.done(err)
	}
	sources, err := s.Targets(prev.Name, opts.Service)
	if err != nil {
		return r.done(err)
	}
	r.sum.Why = "the images " + prev.Name + " runs, verified there"
	var wg sync.WaitGroup
	for _, src := range sources {
		r.result(src.Service.Name)
		wg.Go(func() {
			dst, err := s.Target(src.Service.Name, opts.Target)
			if err != nil {
				r.fail(src.Service.Name, "", err)
				return
			}
			p.promote(ctx, r, p.Deployment(src), p.Deployment(dst), bump.OneLine(opts.Unsoaked))
		})
	}
	wg.Wait()
	return r.done(r.err())
}

// promote takes one service's image from src to dst; unsoaked is the
// reason to take one without a passed soak.
func (p *Pipeline) promote(ctx context.Context, r *run, src, dst *Deployment, unsoaked string) {
	svc := src.t.Service.Name
	var from bump.Revision
	reason := "verified on " + src.t.Environment
	if err := r.stage(svc, "check", func() (string, error) {
		var err error
		from, err = src.verified(ctx)
		if err != nil {
			return "", err
		}
		detail := fmt.Sprintf("%s runs %s (%s), as its manifest says", src.t.Environment, short(from.SourceCommit), from.Image)
		soaked, err := src.soaked(ctx, from, unsoaked, dst.t.Environment)
		if err != nil {
			return "", err
		}
		if unsoaked != "" && soaked == "" {
			reason += "; promoted without a passed soak: " + unsoaked
			return detail + "; no passed soak, promoted for: " + unsoaked, nil
		}
		if soaked != "" {
			reason += ", " + soaked
			detail += "; " + soaked
		}
		return detail, nil
	}); err != nil {
		r.fail(svc, "", err)
		return
	}
	r.set(svc, func(sr *ServiceResult) { sr.Commit, sr.Image = from.SourceCommit, from.Image })

	opts := dst.gitopsOptions()
	opts.Image, opts.SourceCommit = from.Image, from.SourceCommit
	opts.Action, opts.Reason = "promote", reason
	opts.DryRun = p.s.BumpDryRun
	dst.release(ctx, r, opts, func(res bump.Result) error {
		if res.Outcome == bump.NewerDeployed {
			return fmt.Errorf("%s runs %s, newer than %s from %s: nothing promoted (to go back on purpose: go tool mage rollback -env=%s -service=%s -to=%s)",
				dst.t.Environment, short(res.PreviousCommit), short(from.SourceCommit), src.t.Environment, dst.t.Environment, svc, short(from.SourceCommit))
		}
		return nil
	})
}

// soaked checks the verdict of the soak the target's manifest records on
// rev's image, before its promotion to the environment to, and returns it in words ("soak passed there at ..."); an
// image whose soak failed or was never recorded is an error that says
// which, unless unsoaked gives the reason to go on (then it returns "").
// With VERIFY_SOAK=0 nothing is soaked, and only a failed soak stops it.
func (d *Deployment) soaked(ctx context.Context, rev bump.Revision, unsoaked, to string) (string, error) {
	t := d.t
	cur, err := bump.Current(ctx, d.gitopsOptions())
	if err != nil {
		return "", fmt.Errorf("read the soak's verdict in %s: %w", t.Name(), err)
	}
	v := ReadVerdicts(cur.Annotations).Of(rev.Image)
	override := fmt.Sprintf("to promote it all the same, say why: go tool mage promote %s -service=%s -unsoaked='<reason>' (or PROMOTE_UNSOAKED), which the gitops commit records", to, t.Service.Name)
	switch {
	case v != nil && v.Result == VerdictPassed:
		return fmt.Sprintf("soak passed on %s at %s", t.Environment, v.At.UTC().Format(time.RFC3339)), nil
	case unsoaked != "":
		return "", nil
	case v != nil:
		return "", fmt.Errorf("the soak of %s on %s failed at %s (%s): nothing is promoted from it; %s", short(rev.SourceCommit), t.Environment, v.At.UTC().Format(time.RFC3339), v.Detail, override)
	case d.p.s.VerifySoak == 0:
		return "", nil
	}
	return "", fmt.Errorf("no soak of %s on %s is recorded (deployed before soaks were, with VERIFY_SOAK=0, without %s, or its verdict could not be written): nothing is promoted from it; deploy it again with go tool mage ci to soak it, or %s",
		short(rev.SourceCommit), t.Environment, t.Var("VERIFY_URL"), override)
}

// verified returns what the target's manifest deploys, once its /version
// reports that commit: in the local loop, after rolling the manifest out
// (or leaving it to a running `mage local`).
func (d *Deployment) verified(ctx context.Context) (bump.Revision, error) {
	t := d.t
	revs, err := d.History(ctx, 1)
	if err != nil {
		return bump.Revision{}, err
	}
	if len(revs) > 0 && revs[0].Problem != nil {
		return bump.Revision{}, d.manifestError(revs[0])
	}
	if len(revs) == 0 || revs[0].SourceCommit == "" {
		return bump.Revision{}, fmt.Errorf("%s's manifest of %s (%s) records no source commit: deploy it first (go tool mage ci, or promote to it)", t.Environment, t.Service.Name, t.Path)
	}
	cur := revs[0]
	if !strings.Contains(cur.Image, "@sha256:") {
		return bump.Revision{}, fmt.Errorf("%s deploys %s, a tag without a digest: promotion ships the digest that was tested; deploy %s with go tool mage ci, which pins it", t.Name(), cur.Image, t.Environment)
	}
	if d.p.s.LocalGitops() {
		if _, err := d.Rollout(ctx); err != nil {
			return bump.Revision{}, fmt.Errorf("roll out %s: %w", t.Name(), err)
		}
	}
	if d.VerifyURL() == "" {
		return bump.Revision{}, fmt.Errorf("cannot check that %s runs %s: set %s (or verifyURL of %s in %s) to its address; promotion takes only an image that answers there",
			t.Name(), short(cur.SourceCommit), t.Var("VERIFY_URL"), t.Environment, config.EnvironmentsFile)
	}
	if _, err := d.verify(ctx, cur.SourceCommit, min(d.p.s.VerifyTimeout, CheckTimeout)); err != nil {
		if ctx.Err() != nil {
			return bump.Revision{}, fmt.Errorf("interrupted while checking that %s runs %s: nothing was promoted", t.Name(), short(cur.SourceCommit))
		}
		return bump.Revision{}, fmt.Errorf("%s is not verified, so nothing is promoted from it: %w", t.Name(), err)
	}
	return cur, nil
}
