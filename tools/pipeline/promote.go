package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	// Target is the environment to promote to; its image comes from the
	// environment before it.
	Target string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Promote takes exactly the image, by digest, and the source commit that
// the environment before Target deploys, once that environment's /version
// reports the commit in VERIFY_CONSECUTIVE answers in a row, to Target:
// the same guarded bump as a deploy, then the rollout or Argo CD refresh
// and verify. It never builds: the digest that was tested is the digest
// that ships. It refuses when the previous environment does not run what
// its manifest says, or when Target runs a newer commit already.
func Promote(ctx context.Context, opts PromoteOptions) (Summary, error) {
	p := New(opts.Settings, opts.Logger)
	defer p.Close(context.WithoutCancel(ctx))
	r := &run{sum: Summary{Action: "promote", Environment: opts.Target, Mode: opts.Settings.Mode(), Deploy: true}, start: time.Now(), log: p.log}

	prev, err := opts.Settings.Previous(opts.Target)
	if err != nil {
		return r.done(err)
	}
	target, err := p.In(opts.Target)
	if err != nil {
		return r.done(err)
	}
	r.log = target.log
	source, err := p.In(prev.Name)
	if err != nil {
		return r.done(err)
	}
	r.sum.Why = "the image " + prev.Name + " runs, verified there"

	var from bump.Revision
	if err := r.stage("check", func() (string, error) {
		var err error
		from, err = source.verified(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s runs %s (%s), as its manifest says", prev.Name, short(from.SourceCommit), from.Image), nil
	}); err != nil {
		return r.done(err)
	}
	r.sum.Commit, r.sum.Version, r.sum.Image = from.SourceCommit, short(from.SourceCommit), from.Image

	opts2 := target.gitopsOptions()
	opts2.Image, opts2.SourceCommit = from.Image, from.SourceCommit
	opts2.Action, opts2.Reason = "promote", "verified on "+prev.Name
	opts2.DryRun = opts.Settings.BumpDryRun
	return target.afterBump(ctx, r, opts2, func(res bump.Result) error {
		if res.Outcome == bump.NewerDeployed {
			return fmt.Errorf("%s runs %s, newer than %s from %s: nothing promoted (to go back on purpose: go tool mage rollback -env=%s -to=%s)",
				opts.Target, short(res.PreviousCommit), short(from.SourceCommit), prev.Name, opts.Target, short(from.SourceCommit))
		}
		return nil
	})
}

// verified returns what the environment's manifest deploys, once its
// /version reports that commit: in the local loop, after rolling the
// manifest out (or leaving it to a running `mage local`).
func (p *Pipeline) verified(ctx context.Context) (bump.Revision, error) {
	env := p.s.Environment
	revs, err := p.History(ctx, 1)
	if err != nil {
		return bump.Revision{}, err
	}
	if len(revs) > 0 && revs[0].Problem != nil {
		return bump.Revision{}, p.manifestError(revs[0])
	}
	if len(revs) == 0 || revs[0].SourceCommit == "" {
		return bump.Revision{}, fmt.Errorf("%s's manifest (%s) records no source commit: deploy it first (go tool mage ci, or promote to it)", env, p.s.GitopsPath)
	}
	cur := revs[0]
	if !strings.Contains(cur.Image, "@sha256:") {
		return bump.Revision{}, fmt.Errorf("%s deploys %s, a tag without a digest: promotion ships the digest that was tested; deploy %s with go tool mage ci, which pins it", env, cur.Image, env)
	}
	if p.s.LocalGitops() {
		if _, err := p.Rollout(ctx); err != nil {
			return bump.Revision{}, fmt.Errorf("roll out %s: %w", env, err)
		}
	}
	if p.VerifyURL() == "" {
		return bump.Revision{}, fmt.Errorf("cannot check that %s runs %s: set %s (or verifyURL of %s in %s) to its address; promotion takes only an image that answers there",
			env, short(cur.SourceCommit), p.s.VarFor("VERIFY_URL"), env, config.EnvironmentsFile)
	}
	if _, err := p.verify(ctx, cur.SourceCommit, min(p.s.VerifyTimeout, CheckTimeout)); err != nil {
		if ctx.Err() != nil {
			return bump.Revision{}, fmt.Errorf("interrupted while checking that %s runs %s: nothing was promoted", env, short(cur.SourceCommit))
		}
		return bump.Revision{}, fmt.Errorf("%s is not verified, so nothing is promoted from it: %w", env, err)
	}
	return cur, nil
}

// afterBump makes the bump opts describe, refused when refuse says so,
// then, unless the bump left nothing to make live, the rollout or refresh
// and verify. It records the stages in r and ends the run.
func (p *Pipeline) afterBump(ctx context.Context, r *run, opts bump.Options, refuse func(bump.Result) error) (Summary, error) {
	var res bump.Result
	if err := r.stage("bump", func() (string, error) {
		var err error
		res, err = p.change(ctx, opts)
		if err != nil && opts.Mode == bump.ModePR {
			err = p.mergedAdvice(err, opts.Action)
		}
		if err == nil {
			err = refuse(res)
		}
		return res.String(), err
	}); err != nil {
		return r.done(err)
	}
	r.sum.GitopsCommit, r.sum.GitopsURL = res.Commit, res.URL
	switch res.Outcome {
	case bump.Committed, bump.Merged:
		r.sum.Replaced, r.sum.ReplacedCommit = res.Previous, res.PreviousCommit
	case bump.UpToDate:
		// The manifest deployed it already: nothing was replaced.
		r.sum.Unchanged = true
	case bump.Proposed:
		// Proposed is not deployed: the manifest still deploys Previous.
		r.sum.ProposalBranch, r.sum.PullRequest, r.sum.ProposalURL = res.Branch, res.PR, res.PRURL
	}
	if reason := p.stopReason(res, opts.Action); reason != "" {
		r.skip("deploy", reason)
		r.skip("verify", reason)
		return r.done(nil)
	}
	return r.done(p.deploy(ctx, r, opts.SourceCommit))
}
