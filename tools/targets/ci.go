package targets

import (
	"context"
	"errors"
	"fmt"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/doctor"
	"github.com/andrelair-platform/platform-demo/tools/gate"
	"github.com/andrelair-platform/platform-demo/tools/pipeline"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// CI is the main job, one per push. It decides from the event what to do:
// on a pull request (or a push to another branch than DEPLOY_BRANCH) the
// gate alone; on a push to DEPLOY_BRANCH, by hand, or on this machine, the
// whole pipeline: the gate and the image build side by side, then push,
// bump, refresh or roll out, and verify. It prints a summary, writes it to
// ci-summary.json in the state directory and, inside GitHub Actions, to the
// job's summary, step outputs and annotations.
func CI(ctx context.Context, e Env) error {
	s, info, err := e.load(ctx)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	if deploy, _ := s.Deploys(); deploy {
		// Credentials that cannot work stop the run before anything is sent.
		if err := publish.CheckCredentials(s.RegistryUsername, s.RegistryPassword); err != nil {
			return err
		}
		if !s.LocalGitops() {
			if err := bump.CheckCredentials(s.GitopsRepo, s.GitopsToken, s.GitopsApp); err != nil {
				return err
			}
		}
		// A bad token or registry login fails here, in seconds, not after
		// the build.
		if r := doctor.Run(ctx, doctor.Options{Settings: s, Home: e.Home, Only: doctor.Preflight}); r.Failed() {
			fmt.Fprint(e.Stdout, r.Text())
			return errors.New("preflight failed: fix the rows marked ✗ above (go tool mage doctor checks everything)")
		}
	}
	opts := e.gateOptions()
	opts.Stdout = e.Stderr // the summary is what goes to stdout
	sum, runErr := pipeline.Run(ctx, pipeline.Options{
		Settings: s, Build: info, Logger: e.log(),
		Gate: func(ctx context.Context) (string, error) {
			res, err := gate.Run(ctx, opts)
			return res.Summary(), err
		},
	})
	fmt.Fprint(e.Stdout, sum.Text())
	if s.InActions {
		for _, n := range sum.Notices() {
			fmt.Fprintln(e.Stdout, n)
		}
	}
	path := stateFile(s, "ci-summary.json")
	if err := pipeline.WriteSummary(sum, path, s.StepSummary, s.StepOutput); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Fprintln(e.Stdout, "summary:", path)
	return runErr
}
