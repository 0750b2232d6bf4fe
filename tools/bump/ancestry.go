package bump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
)

// GitAncestry orders commits with the git history of a local clone of the
// source repository.
type GitAncestry struct {
	// Dir is a directory inside the clone.
	Dir string
}

// IsAncestor runs `git merge-base --is-ancestor`.
func (g GitAncestry) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	cmd := exec.CommandContext(ctx, "git", "merge-base", "--is-ancestor", ancestor, descendant)
	cmd.Dir = g.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, fmt.Errorf("git merge-base in %s: %v: %s (is the history complete? a shallow clone lacks old commits: fetch with full depth, e.g. actions/checkout fetch-depth: 0)",
		g.Dir, err, strings.TrimSpace(stderr.String()))
}

// GitHubAncestry orders commits with the compare API of the source
// repository on GitHub, for runners whose checkout is shallow.
type GitHubAncestry struct {
	// Repo is the source repository, "owner/name".
	Repo string
	// Token reads the source repository; it may differ from the gitops one.
	Token string
	// APIURL is the API root, as Options.APIURL; DefaultAPIURL when empty.
	APIURL string
	// HTTPClient is as Options.HTTPClient.
	HTTPClient *http.Client
}

// IsAncestor asks GET /repos/{owner}/{repo}/compare/{ancestor}...{descendant}:
// "ahead" or "identical" means ancestor is reachable from descendant.
func (g GitHubAncestry) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	api := g.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	client, err := NewGitHubClient(api, g.Token, g.HTTPClient)
	if err != nil {
		return false, err
	}
	owner, repo, ok := strings.Cut(g.Repo, "/")
	if !ok {
		return false, fmt.Errorf("source repository %q is not owner/name", g.Repo)
	}
	cmp, _, err := client.Repositories.CompareCommits(ctx, owner, repo, ancestor, descendant, nil)
	if err != nil {
		return false, redactErr(fmt.Errorf("compare %.12s...%.12s in %s: %w (both commits must exist in the source repository and the token must read it)", ancestor, descendant, g.Repo, err), g.Token)
	}
	switch s := cmp.GetStatus(); s {
	case "ahead", "identical":
		return true, nil
	case "behind", "diverged":
		return false, nil
	default:
		return false, fmt.Errorf("compare %.12s...%.12s in %s: unexpected status %q", ancestor, descendant, g.Repo, s)
	}
}
