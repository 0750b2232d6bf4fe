//go:build integration

package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/giteatest"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// TestIntegrationEnvironmentsGitea runs the two-environment scenario (two
// deploys, three promotions, two rollbacks) with the gitops repository on a
// real Gitea 1.26, through the Contents API, then protects main and goes on
// in pull requests: a deploy merged with BUMP_MERGE=1 and verified, a
// promotion merged the same way, and a rollback only proposed, whose
// summary says so and which leaves the environment as it was.
func TestIntegrationEnvironmentsGitea(t *testing.T) {
	ctx := context.Background()
	srv := giteatest.Start(t)
	root := clone(t)
	const repo = "andrelair-platform/minicloud-gitops"
	files := map[string]string{}
	for _, p := range []string{stagingPath, productionPath} {
		b, err := os.ReadFile(filepath.Join(root, "gitops", p))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	srv.CreateRepo(t, repo, files)
	env := map[string]string{
		"GITHUB_REPOSITORY": "andrelair-platform/platform-demo", "PIPELINE_STATE_DIR": t.TempDir(),
		"REGISTRY_USERNAME": regUser, "REGISTRY_PASSWORD": regPass, "PUBLISH_BASE": "local",
		"ARGOCD_AUTH_TOKEN": argoToken,
		"VERIFY_INTERVAL":   "100ms", "VERIFY_TIMEOUT": "1m", "VERIFY_SOAK": "0",
		"GITOPS_REPO": repo, "GITOPS_TOKEN": srv.BotToken, "GITHUB_API_URL": srv.URL,
	}
	read := func(path string) ([]byte, bool) { return srv.File(t, repo, "main", path), true }
	w := production(t, root, env, read, func() []string { return srv.Commits(t, repo, "main") })
	operate(t, root, w)

	// main takes changes through pull requests from now on.
	srv.Protect(t, repo, "main", giteatest.Protection{})
	load := func(extra map[string]string) config.Settings {
		t.Helper()
		for k, v := range extra {
			env[k] = v
		}
		s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	deploys := func(path string) string {
		t.Helper()
		cur, err := manifest.Read(srv.File(t, repo, "main", path), "platform-demo")
		if err != nil {
			t.Fatal(err)
		}
		return cur.SourceCommit
	}
	third := change(t, root, fixture.Reference, "third")
	s := load(map[string]string{"BUMP_MODE": "pr", "BUMP_MERGE": "1", "BUMP_MERGE_TIMEOUT": "2m"})
	sum, err := Run(ctx, Options{Settings: s, Build: third})
	if r, _ := sum.Service(fixture.Reference); err != nil || r.LiveCommit != third.Commit || deploys(stagingPath) != third.Commit {
		t.Fatalf("ci in a merged pull request: %v, live %q, staging's manifest at %s; want %s live\n%s", err, r.LiveCommit, deploys(stagingPath), third.Version, sum.Text())
	}
	sum, err = Promote(ctx, PromoteOptions{Settings: s, Target: "production"})
	if r, _ := sum.Service(fixture.Reference); err != nil || r.LiveCommit != third.Commit || deploys(productionPath) != third.Commit {
		t.Fatalf("promote in a merged pull request: %v, live %q; want %s live\n%s", err, r.LiveCommit, third.Version, sum.Text())
	}

	s = load(map[string]string{"BUMP_MODE": "pr", "BUMP_MERGE": "0"})
	sum, err = Rollback(ctx, RollbackOptions{Settings: s, Reason: "proposed only"})
	if err != nil {
		t.Fatalf("rollback in a pull request: %v\n%s", err, sum.Text())
	}
	r, _ := sum.Service(fixture.Reference)
	if r.Result != Proposed || r.PR == 0 || !strings.Contains(r.PRURL, "/pulls/") || r.Replaced != "" || r.LiveCommit != "" {
		t.Errorf("summary of a proposed rollback = %+v; want the pull request, nothing replaced or live", r)
	}
	if got := deploys(stagingPath); got != third.Commit {
		t.Errorf("staging's manifest deploys %s after a proposed rollback, want still %s", got, third.Version)
	}
	if !strings.Contains(r.Detail, "nothing is deployed until it merges") {
		t.Errorf("summary of a proposed rollback does not say it waits for its merge:\n%s", sum.Text())
	}
}
