package doctor

import (
	"context"
	"fmt"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// githubGitops reports whether bumps go through the GitHub API, the only
// path that uses GITOPS_TOKEN; otherwise it says why the token is not needed.
func githubGitops(s config.Settings) (bool, string) {
	switch {
	case s.LocalGitops():
		return false, "local mode: not needed (bumps go to the local gitops repository)"
	case !bump.IsGitHubRepo(s.GitopsRepo):
		return false, "not needed: GITOPS_REPO is a git repository, not a GitHub owner/name"
	}
	return true, ""
}

// tokenRule is the bump's rule for GITOPS_TOKEN, with the fix naming this
// repository's secrets.
func tokenRule(s config.Settings) secret.Rule {
	r := bump.TokenRule
	r.Repo = s.SourceRepo
	return r
}

// tokenShape checks GITOPS_TOKEN without sending it anywhere, by the rule
// the bump itself applies before its first request.
func (d *doctor) tokenShape(context.Context) []Row {
	row := Row{Check: CheckToken}
	if ok, why := githubGitops(d.s); !ok {
		row.Found = why
		return []Row{row}
	}
	token := d.s.GitopsToken
	if app := d.s.GitopsApp; app != nil {
		row.Found = fmt.Sprintf("not needed: GitHub App %d (GITOPS_APP_ID) mints an installation token for each bump; its key parses", app.ID)
		if token != "" {
			row.Found += "; GITOPS_TOKEN is set too and not used"
		}
		return []Row{row}
	}
	if token == "" {
		row.Status = Fail
		row.Found = "unset: the bump cannot write to " + d.s.GitopsRepo
		row.Fix = "create a classic PAT with the `repo` scope (docs/runbook.md, step 2). " + tokenRule(d.s).SetFix()
		return []Row{row}
	}
	if err := tokenRule(d.s).Check(token); err != nil {
		row.Status, row.Found = Fail, err.Error()
		return []Row{row}
	}
	switch kind := forge.KindOf(token); kind {
	case forge.UnknownToken:
		row.Status = Warn
		row.Found = secret.Mask(token) + ": not a known GitHub token prefix (ghp_, github_pat_, ghs_, ghu_, gho_)"
		row.Fix = "use a classic PAT with the `repo` scope (docs/runbook.md, step 2)"
	case forge.InstallationToken:
		// actions/create-github-app-token gives one; so does the job's own
		// GITHUB_TOKEN, which cannot write another repository.
		row.Found = fmt.Sprintf("%s, %s; it expires an hour after it was minted", kind, secret.Mask(token))
		row.Fix = "this works when it comes from a GitHub App installed on " + d.s.GitopsRepo +
			" with Contents: Read and write (actions/create-github-app-token); the workflow's own GITHUB_TOKEN cannot write another repository"
	default:
		row.Found = fmt.Sprintf("%s, %s", kind, secret.Mask(token))
	}
	return []Row{row}
}
