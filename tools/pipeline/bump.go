package pipeline

import (
	"context"
	"fmt"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
)

// stopReason says why nothing after a bump can make its commit live, or ""
// when the run goes on.
func stopReason(res bump.Result) string {
	switch res.Outcome {
	case bump.NewerDeployed:
		return "a newer commit (" + short(res.PreviousCommit) + ") is deployed"
	case bump.DryRun:
		return "BUMP_DRY_RUN=1: nothing was written"
	}
	return ""
}

// Bump points the gitops manifest at image, built from info's commit.
func (p *Pipeline) Bump(ctx context.Context, image string, info buildinfo.Info) (bump.Result, error) {
	if err := p.InitGitops(ctx); err != nil {
		return bump.Result{}, err
	}
	s := p.s
	res, err := bump.Image(ctx, bump.Options{
		Repo: s.GitopsTarget(), Path: s.GitopsPath, Branch: s.GitopsBranch, Container: s.GitopsContainer,
		Token: s.GitopsToken, APIURL: s.GitHubAPIURL,
		Image: image, SourceCommit: info.Commit,
		Ancestry: bump.GitAncestry{Dir: s.Root},
		Force:    s.BumpForce, DryRun: s.BumpDryRun,
		// A gitops manifest in this very repository must not start the
		// pipeline again with its own bump.
		SkipCI: !s.LocalGitops() && s.GitopsRepo == s.SourceRepo,
		Logger: p.log,
	})
	if err != nil {
		return res, fmt.Errorf("bump %s in %s: %w", s.GitopsPath, s.GitopsTarget(), err)
	}
	return res, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
