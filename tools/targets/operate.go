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

// Promote takes the image the environment before target runs, verified
// there, to target: no build, the same digest.
func Promote(ctx context.Context, e Env, target string) error {
	s, err := e.operable()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	sum, err := pipeline.Promote(ctx, pipeline.PromoteOptions{Settings: s, Target: target, Logger: e.log()})
	return e.report(s, sum, err)
}

// RollbackArgs are the optional arguments of Rollback; each falls back to
// a variable (ROLLBACK_ENV, ROLLBACK_TO, ROLLBACK_REASON), which is how a
// workflow_dispatch passes its inputs.
type RollbackArgs struct {
	Env, To, Reason *string
}

// Rollback points an environment back at an earlier image and verifies it.
func Rollback(ctx context.Context, e Env, args RollbackArgs) error {
	s, err := e.operable()
	if err != nil {
		return err
	}
	arg := func(flag *string, variable string) string {
		if flag != nil {
			return *flag
		}
		v, _ := e.Lookup(variable)
		return v
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	sum, err := pipeline.Rollback(ctx, pipeline.RollbackOptions{
		Settings: s, Environment: arg(args.Env, "ROLLBACK_ENV"), To: arg(args.To, "ROLLBACK_TO"),
		Reason: arg(args.Reason, "ROLLBACK_REASON"), Logger: e.log(),
	})
	return e.report(s, sum, err)
}

// Status prints the state of every environment, as a table or, with
// asJSON (or STATUS_FORMAT=json), as JSON. It fails when an environment is
// drifted or unreachable, so that scripts can gate on it.
func Status(ctx context.Context, e Env, asJSON *bool) error {
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
	st := pipeline.ReadStatus(ctx, s, nil)
	if format == "json" {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, string(b))
	} else {
		fmt.Fprint(e.Stdout, st.Text(time.Now()))
	}
	var bad []string
	for _, env := range st.Environments {
		switch {
		case env.Verdict == pipeline.Unreadable:
			bad = append(bad, env.Environment+"'s manifest cannot be read")
		case !env.Healthy():
			bad = append(bad, env.Environment+" is "+env.Verdict)
		}
	}
	if len(bad) > 0 {
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
	if len(sum.Stages) == 0 {
		return runErr // refused before it started: the error says why
	}
	fmt.Fprint(e.Stdout, sum.Text())
	switch {
	case runErr != nil:
	case sum.Unchanged:
		// A second identical run: git deployed the image already.
		fmt.Fprintf(e.Stdout, "nothing changed: %s deployed %s (%s) already\n", sum.Environment, short(sum.Commit), sum.Image)
	case sum.ProposalBranch != "":
		// Only proposed: the branch still deploys what it did.
		what := "branch " + sum.ProposalBranch + " (open a pull request from it on the host)"
		if sum.PullRequest != 0 {
			what = fmt.Sprintf("pull request #%d, %s", sum.PullRequest, sum.ProposalURL)
		}
		fmt.Fprintf(e.Stdout, "proposed, not deployed: %s would deploy %s (%s) to %s; nothing changes there until it is merged\n", what, short(sum.Commit), sum.Image, sum.Environment)
	case sum.Replaced != "":
		if sum.ReplacedCommit != "" {
			fmt.Fprintf(e.Stdout, "replaced: %s (%s)\n", short(sum.ReplacedCommit), sum.Replaced)
		} else {
			fmt.Fprintf(e.Stdout, "replaced: %s\n", sum.Replaced)
		}
		if sum.LiveCommit != "" {
			fmt.Fprintf(e.Stdout, "live now: %s (%s)\n", short(sum.LiveCommit), sum.Image)
		} else {
			fmt.Fprintf(e.Stdout, "git now deploys: %s (%s); not verified from here\n", short(sum.Commit), sum.Image)
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
