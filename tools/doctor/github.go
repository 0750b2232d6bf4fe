package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/service"
)

// github checks the token against the API, then the gitops target through
// it: the target cannot be read with a token the API rejects, so the two
// run in order and the second says so rather than repeating the failure.
func (d *doctor) github(ctx context.Context) []Row {
	api := Row{Check: CheckGitHub}
	if ok, why := githubGitops(d.s); !ok {
		api.Found = why
		return append([]Row{api}, d.eachTarget(func(t config.Target) Row { return d.gitopsOther(ctx, t) })...)
	}
	target := Row{Check: CheckGitops}
	if d.s.GitopsApp != nil {
		return d.app(ctx)
	}
	client, err := d.githubClient()
	if err != nil {
		api.Status, api.Found, api.Fix = Fail, err.Error(), "set GITHUB_API_URL to the API root over https, such as https://api.github.com/"
		target.Status, target.Found = Warn, "not checked: no usable API URL"
		return []Row{api, target}
	}
	if strings.TrimSpace(d.s.GitopsToken) == "" {
		// Reading a public repository needs no token, so the target can
		// still be checked; the GITOPS_TOKEN row already fails.
		api.Status, api.Found = Warn, "not checked: GITOPS_TOKEN is unset (the gitops target is read anonymously)"
		return append([]Row{api}, d.checkTargets(ctx, client)...)
	}
	if tokenRule(d.s).Check(strings.TrimSpace(d.s.GitopsToken)) != nil {
		// Nothing that cannot be a token is sent anywhere.
		api.Status, api.Found = Warn, "not checked: GITOPS_TOKEN cannot be a real token (its row says why)"
		target.Status, target.Found = Warn, "not checked: no usable token"
		return []Row{api, target}
	}
	api, ok := d.checkToken(ctx, client)
	if !ok {
		target.Status, target.Found = Warn, "not checked: the GitHub API check failed"
		return []Row{api, target}
	}
	return append([]Row{api}, d.checkTargets(ctx, client)...)
}

// eachTarget runs check on every service in every environment, and names
// the target in each row when there is more than one.
func (d *doctor) eachTarget(check func(config.Target) Row) []Row {
	var targets []config.Target
	for _, e := range d.s.Environments {
		ts, _ := d.s.Targets(e.Name, "")
		targets = append(targets, ts...)
	}
	if len(targets) == 0 {
		return []Row{{Check: CheckGitops, Status: Warn, Found: "no services to check: " + service.Names(nil)}}
	}
	rows := make([]Row, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			if bump.CheckPath(t.Path) != nil {
				// Nothing outside the gitops repository is read, nor sent to
				// the API, which refuses such a path as if the network had
				// failed.
				rows[i] = Row{Check: CheckGitops, Status: Warn, Found: "not checked: the manifest's path leads outside the gitops repository (the configuration row says why)"}
			} else {
				rows[i] = check(t)
			}
			if len(targets) > 1 {
				rows[i].Found = t.Name() + ": " + rows[i].Found
			}
		})
	}
	wg.Wait()
	return rows
}

// checkTargets reads, through client, the manifest of every target.
func (d *doctor) checkTargets(ctx context.Context, client *github.Client) []Row {
	return d.eachTarget(func(t config.Target) Row { return d.checkTarget(ctx, client, t) })
}

// githubClient is the bump's client, which keeps the token to the API host
// and off plain http to other machines, as the bump itself will.
func (d *doctor) githubClient() (*github.Client, error) {
	// The GITOPS_TOKEN row reports whitespace around the token; sending it
	// without tells whether the whitespace is its only fault.
	return forge.NewClient(d.s.GitHubAPIURL, strings.TrimSpace(d.s.GitopsToken), d.opts.HTTPClient)
}

// app checks the GitHub App the bump acts as: it is installed on the
// gitops repository, mints a token there with the permissions the bump asks
// for, and that token reads the manifest. The calls are the bump's own.
func (d *doctor) app(ctx context.Context) []Row {
	api, target := Row{Check: CheckGitHub}, Row{Check: CheckGitops}
	perms := forge.Permissions{Contents: "write"}
	if d.s.BumpMode == bump.ModePR {
		perms.PullRequests = "write"
	}
	tok, err := d.s.GitopsApp.InstallationToken(ctx, d.s.GitHubAPIURL, d.s.GitopsRepo, perms, d.opts.HTTPClient)
	if err != nil {
		api.Status, api.Found, api.Fix = Fail, err.Error(), "see docs/runbook.md, step 2"
		var ae *forge.AppError
		if errors.As(err, &ae) {
			api.Found, api.Fix = fmt.Sprintf("App %d: %s: %s", d.s.GitopsApp.ID, ae.Op, ae.Answer), ae.Fix
		}
		target.Status, target.Found = Warn, "not checked: no installation token"
		return []Row{api, target}
	}
	api.Found = fmt.Sprintf("App %d, installation %d: minted a token for %s with contents: %s", d.s.GitopsApp.ID, tok.InstallationID, d.s.GitopsRepo, perms.Contents)
	if perms.PullRequests != "" {
		api.Found += ", pull requests: " + perms.PullRequests
	}
	if d.s.GitopsToken != "" {
		api.Found += "; GITOPS_TOKEN is set too and not used"
	}
	client, err := forge.NewClient(d.s.GitHubAPIURL, tok.Value, d.opts.HTTPClient)
	if err != nil {
		target.Status, target.Found = Fail, err.Error()
		return []Row{api, target}
	}
	return append([]Row{api}, d.checkTargets(ctx, client)...)
}

// checkToken asks who the token belongs to and what it may do on the gitops
// repository. It reports whether the target can be checked with it.
func (d *doctor) checkToken(ctx context.Context, client *github.Client) (Row, bool) {
	row := Row{Check: CheckGitHub}
	token := strings.TrimSpace(d.s.GitopsToken)
	owner, name, _ := strings.Cut(d.s.GitopsRepo, "/")
	kind := forge.KindOf(token)
	host := client.BaseURL.Host

	who := ""
	if !kind.NoUser() {
		user, _, err := client.Users.Get(ctx, "")
		if err != nil {
			row.Status = Fail
			row.Found, row.Fix = d.apiFailure("GET /user", err)
			return row, false
		}
		who = " as " + user.GetLogin()
	}
	repo, resp, err := client.Repositories.Get(ctx, owner, name)
	if err != nil {
		if status(err) == http.StatusNotFound {
			row.Status = Fail
			row.Found = fmt.Sprintf("%s: 404 Not Found for the token%s: the repository does not exist, or the account cannot see it", d.s.GitopsRepo, who)
			row.Fix = "check GITOPS_REPO (owner/name), and give the token's account write access to the repository"
			return row, false
		}
		row.Status = Fail
		row.Found, row.Fix = d.apiFailure("GET /repos/"+d.s.GitopsRepo, err)
		return row, false
	}
	found := fmt.Sprintf("token accepted by %s%s", host, who)
	if token != d.s.GitopsToken {
		found = fmt.Sprintf("token accepted by %s%s once its whitespace is removed", host, who)
	}

	// Classic tokens list their scopes; fine-grained and app tokens send no
	// header at all, and a missing header says nothing about a scope.
	if values, sent := resp.Header[http.CanonicalHeaderKey("X-OAuth-Scopes")]; sent {
		scopes := splitScopes(strings.Join(values, ","))
		enough := slices.Contains(scopes, "repo") || (!repo.GetPrivate() && slices.Contains(scopes, "public_repo"))
		if !enough {
			row.Status = Fail
			row.Found = fmt.Sprintf("%s; its scopes (%s) lack `repo`", found, listOrNone(scopes))
			row.Fix = "the Contents API needs the `repo` scope to write " + d.s.GitopsRepo + ": edit the token on GitHub (Settings → Developer settings → Personal access tokens) and tick `repo`, or create a new one (docs/runbook.md, step 2)"
			return row, true
		}
		found += fmt.Sprintf("; scopes: %s", strings.Join(scopes, ", "))
	}
	// App tokens may get no permissions object: then nothing is known.
	switch push, known := repo.GetPermissions()["push"]; {
	case known && !push:
		row.Status = Fail
		row.Found = fmt.Sprintf("%s; no push permission on %s", found, d.s.GitopsRepo)
		row.Fix = fmt.Sprintf("give the token's account Write access to %s (repository Settings → Collaborators and teams)", d.s.GitopsRepo)
		if kind == forge.FineGrainedPAT {
			row.Fix += ", and the token Contents: Read and write on it"
		}
		return row, true
	case known:
		found += "; push allowed on " + d.s.GitopsRepo
	}
	row.Found = found
	return row, true
}

// apiFailure says what a failed call found and its fix, in the words the
// bump would use. It never quotes the error itself, whose text repeats the
// request URL.
func (d *doctor) apiFailure(what string, err error) (found, fix string) {
	p := forge.Explain(err, forge.Context{Token: strings.TrimSpace(d.s.GitopsToken), Repo: d.s.GitopsRepo, API: d.s.GitHubAPIURL, SourceRepo: d.s.SourceRepo})
	return what + ": " + p.Cause, p.Fix
}

// checkTarget reads the manifest the bump edits and names its image now.
func (d *doctor) checkTarget(ctx context.Context, client *github.Client, t config.Target) Row {
	row := Row{Check: CheckGitops}
	owner, name, _ := strings.Cut(d.s.GitopsRepo, "/")
	where := fmt.Sprintf("%s@%s:%s", d.s.GitopsRepo, t.Branch, t.Path)
	_, resp, err := client.Repositories.GetBranch(ctx, owner, name, t.Branch, 0)
	if err != nil && resp != nil {
		// GetBranch reports a status other than 200 as a plain error; make
		// it the error every other call returns.
		err = &github.ErrorResponse{Response: resp.Response, Message: http.StatusText(resp.StatusCode)}
	}
	if err != nil {
		if status(err) == http.StatusNotFound {
			row.Status = Fail
			row.Found = fmt.Sprintf("%s has no branch %q", d.s.GitopsRepo, t.Branch)
			row.Fix = "set " + t.Var("GITOPS_BRANCH") + " to the branch Argo CD follows"
			return row
		}
		row.Status = Fail
		row.Found, row.Fix = d.apiFailure("GET branch "+t.Branch, err)
		return row
	}
	file, dir, _, err := client.Repositories.GetContents(ctx, owner, name, t.Path,
		&github.RepositoryContentGetOptions{Ref: t.Branch})
	switch {
	case status(err) == http.StatusNotFound:
		row.Status = Fail
		row.Found = where + ": no such file"
		row.Fix = fmt.Sprintf("copy gitops/%s into %s (a new service's manifests: docs/runbook.md, \"A new service\"), or set %s to the Deployment's path there", path.Dir(t.Path), d.s.GitopsRepo, t.Var("GITOPS_PATH"))
		return row
	case err != nil:
		row.Status = Fail
		row.Found, row.Fix = d.apiFailure("GET "+where, err)
		return row
	case dir != nil || file == nil:
		row.Status = Fail
		row.Found = where + " is a directory"
		row.Fix = "set " + t.Var("GITOPS_PATH") + " to the manifest file itself, such as " + strings.ReplaceAll(config.DefaultPath, config.ServicePlaceholder, t.Service.Name)
		return row
	}
	content, err := file.GetContent()
	if err != nil {
		row.Status, row.Found = Fail, fmt.Sprintf("%s: cannot decode the file: %v", where, err)
		return row
	}
	return d.readManifest(row, where, []byte(content), t)
}

// readManifest fills row from the manifest's content.
func (d *doctor) readManifest(row Row, where string, content []byte, t config.Target) Row {
	cur, err := manifest.Read(content, t.Container)
	if err != nil {
		row.Status = Fail
		row.Found = fmt.Sprintf("%s: %v", where, err)
		row.Fix = fmt.Sprintf("set %s to the container's name (or container in services/%s/service.yaml), or %s to the manifest that has it", t.Var("GITOPS_CONTAINER"), t.Service.Name, t.Var("GITOPS_PATH"))
		return row
	}
	row.Found = fmt.Sprintf("%s: %s %q runs %s", where, cur.Workload, t.Container, cur.Image)
	if cur.SourceCommit != "" {
		row.Found += fmt.Sprintf(" (source commit %.7s)", cur.SourceCommit)
	}
	return row
}

// gitopsOther checks a gitops target that is not a GitHub repository: the
// local repository, or a path to a git repository.
func (d *doctor) gitopsOther(ctx context.Context, t config.Target) Row {
	row := Row{Check: CheckGitops}
	dir := d.s.GitopsTarget()
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		if !d.s.LocalGitops() {
			row.Found = secret.URL(dir) + ": a git URL; not checked"
			return row
		}
		// Not created yet: the first bump seeds it from gitops/, so that
		// folder is what will be read.
		seed := filepath.Join(d.s.Root, "gitops", filepath.FromSlash(t.Path))
		content, err := os.ReadFile(seed)
		if err != nil {
			row.Status, row.Found = Fail, fmt.Sprintf("local gitops repository not created yet, and its seed is unreadable: %v", err)
			row.Fix = fmt.Sprintf("set %s to a manifest under gitops/ (go tool mage new writes a new service's)", t.Var("GITOPS_PATH"))
			return row
		}
		return d.readManifest(row, "gitops/"+t.Path+" (seed of the local repository)", content, t)
	}
	content, _, err := gitops.Read(ctx, dir, t.Branch, t.Path)
	if err != nil {
		if seed, serr := os.ReadFile(filepath.Join(d.s.Root, "gitops", filepath.FromSlash(t.Path))); serr == nil && d.s.LocalGitops() {
			// A new service: the first deploy adds its folder from gitops/.
			return d.readManifest(row, "gitops/"+t.Path+" (added to the local repository on first use)", seed, t)
		}
		row.Status, row.Found = Fail, err.Error()
		row.Fix = fmt.Sprintf("check %s and %s", t.Var("GITOPS_BRANCH"), t.Var("GITOPS_PATH"))
		if d.s.LocalGitops() {
			row.Fix += fmt.Sprintf(", or remove %s to have it seeded again from gitops/", dir)
		}
		return row
	}
	return d.readManifest(row, fmt.Sprintf("%s@%s:%s", dir, t.Branch, t.Path), content, t)
}

// status is the HTTP status of a go-github error, or 0.
func status(err error) int {
	var resp *github.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil {
		return resp.Response.StatusCode
	}
	return 0
}

func splitScopes(header string) []string {
	var out []string
	for _, s := range strings.Split(header, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
