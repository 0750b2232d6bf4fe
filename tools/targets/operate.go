package targets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/pipeline"
)

// Promote takes the images the environment before target runs, verified
// there, to target: no build, the same digests; every service's, or the
// one service named (or PROMOTE_SERVICE). unsoaked (or PROMOTE_UNSOAKED)
// is the reason to take an image without a passed soak.
func Promote(ctx context.Context, e Env, target string, service, unsoaked *string) error {
	s, err := e.operable()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	sum, err := pipeline.Promote(ctx, pipeline.PromoteOptions{Settings: s, Target: target, Service: e.arg(service, "PROMOTE_SERVICE"), Unsoaked: e.arg(unsoaked, "PROMOTE_UNSOAKED"), Logger: e.log()})
	return e.report(s, sum, err)
}

// RollbackArgs are the optional arguments of Rollback; each falls back to
// a variable (ROLLBACK_ENV, ROLLBACK_SERVICE, ROLLBACK_TO,
// ROLLBACK_REASON), which is how a workflow_dispatch passes its inputs.
type RollbackArgs struct {
	Env, Service, To, Reason *string
}

// arg is a target's optional argument: the flag when given, else the
// variable.
func (e Env) arg(flag *string, variable string) string {
	if flag != nil {
		return *flag
	}
	v, _ := e.Lookup(variable)
	return v
}

// Rollback points an environment back at an earlier image and verifies it.
func Rollback(ctx context.Context, e Env, args RollbackArgs) error {
	s, err := e.operable()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	sum, err := pipeline.Rollback(ctx, pipeline.RollbackOptions{
		Settings: s, Environment: e.arg(args.Env, "ROLLBACK_ENV"), Service: e.arg(args.Service, "ROLLBACK_SERVICE"),
		To: e.arg(args.To, "ROLLBACK_TO"), Reason: e.arg(args.Reason, "ROLLBACK_REASON"), Logger: e.log(),
	})
	return e.report(s, sum, err)
}

// Status prints the state of every service (or the one named) in every
// environment, as a table or, with asJSON (or STATUS_FORMAT=json), as JSON.
// It fails when one is drifted or unreachable, so that scripts can gate on
// it.
func Status(ctx context.Context, e Env, asJSON *bool, service *string) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	format, _ := e.Lookup("STATUS_FORMAT")
	if asJSON != nil {
		format = map[bool]string{true: "json", false: "text"}[*asJSON]
	}
	if format != "" && format != "json" && format != "text" {
		return fmt.Errorf("STATUS_FORMAT=%q: want json or text", format)
	}
	st, err := pipeline.ReadStatus(ctx, s, e.arg(service, "STATUS_SERVICE"), nil)
	if err != nil {
		return err
	}
	if format == "json" {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, string(b))
	} else {
		fmt.Fprint(e.Stdout, st.Text(time.Now()))
	}
	if bad := st.Bad(); len(bad) > 0 {
		for i, b := range bad {
			if target, ok := strings.CutSuffix(b, " is "+pipeline.Unreadable); ok {
				bad[i] = "the manifest of " + target + " cannot be read"
			}
		}
		return errors.New(strings.Join(bad, ", "))
	}
	return nil
}

// operable reads the settings of a target that writes the gitops
// repository, and refuses credentials that cannot write it before anything
// is sent.
func (e Env) operable() (config.Settings, error) {
	s, err := e.settings()
	if err != nil {
		return s, err
	}
	if !s.LocalGitops() {
		if err := bump.CheckCredentials(s.GitopsRepo, s.GitopsToken, s.GitopsApp); err != nil {
			return s, err
		}
	}
	return s, nil
}

// report prints a promotion's or rollback's summary and records it as ci
// does: in the state directory and, inside GitHub Actions, in the job's
// summary, outputs and annotations.
func (e Env) report(s config.Settings, sum pipeline.Summary, runErr error) error {
	if len(sum.Stages) == 0 && len(sum.Services) == 0 {
		return runErr // refused before it started: the error says why
	}
	fmt.Fprint(e.Stdout, sum.Text())
	for _, r := range sum.Services {
		if r.Result == pipeline.Unchanged && strings.HasPrefix(r.Detail, "nothing changed") && runErr == nil {
			// A second identical run: git deployed the image already.
			fmt.Fprintf(e.Stdout, "%s: nothing changed: %s deployed %s (%s) already\n", r.Service, sum.Environment, short(r.Commit), r.Image)
		}
	}
	for _, r := range sum.Services {
		prefix := ""
		if len(sum.Services) > 1 {
			prefix = r.Service + " "
		}
		if r.Result == pipeline.Proposed && runErr == nil {
			// Only proposed: the branch still deploys what it did.
			what := "branch " + r.Branch + " (open a pull request from it on the host)"
			if r.PR != 0 {
				what = fmt.Sprintf("pull request #%d, %s", r.PR, r.PRURL)
			}
			fmt.Fprintf(e.Stdout, "%sproposed, not deployed: %s would deploy %s (%s) to %s; nothing changes there until it is merged\n", prefix, what, short(r.Commit), r.Image, sum.Environment)
			continue
		}
		if r.Result != pipeline.Deployed || r.Replaced == "" {
			continue
		}
		if r.ReplacedCommit != "" {
			fmt.Fprintf(e.Stdout, "%sreplaced: %s (%s)\n", prefix, short(r.ReplacedCommit), r.Replaced)
		} else {
			fmt.Fprintf(e.Stdout, "%sreplaced: %s\n", prefix, r.Replaced)
		}
		if r.LiveCommit != "" {
			fmt.Fprintf(e.Stdout, "%slive now: %s (%s)\n", prefix, short(r.LiveCommit), r.Image)
		} else {
			fmt.Fprintf(e.Stdout, "%sgit now deploys: %s (%s); not verified from here\n", prefix, short(r.Commit), r.Image)
		}
	}
	if s.InActions {
		for _, n := range sum.Notices() {
			fmt.Fprintln(e.Stdout, n)
		}
	}
	path := stateFile(s, sum.Action+"-summary.json")
	if err := pipeline.WriteSummary(sum, path, s.StepSummary, s.StepOutput); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
