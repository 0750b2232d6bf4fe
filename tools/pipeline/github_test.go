package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

const (
	ghToken   = "ghp_pipelinetest0123456789abcdefghijklmn"
	argoToken = "eyJhbGciOiJIUzI1NiJ9.argocd-test.c2lnbmF0dXJl"
	regUser   = "ci-bot"
	regPass   = "registry-test-password"
)

// pushAuth serves a registry that, like ghcr.io for a workflow, requires
// credentials to push; pulls are anonymous here, standing in for the
// cluster's pull secret.
func pushAuth() http.Handler {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			if u, p, ok := req.BasicAuth(); !ok || u != regUser || p != regPass {
				w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		reg.ServeHTTP(w, req)
	})
}

// cluster stands in for Argo CD and the cluster behind it: a refresh of an
// application reads its gitops manifest (read) and rolls its image out for
// real, with the application's local rollout. Its answers carry the sync
// status that `mage status` shows.
type cluster struct {
	t      *testing.T
	read   func(path string) ([]byte, bool)
	apps   map[string]app
	mu     sync.Mutex
	synced []string          // images rolled out, in order
	live   map[string]string // the image each application runs
}

// app is one Argo CD Application: the manifest it deploys, and where.
type app struct {
	path string
	ro   *rollout.Rollout
}

// fromGitHub reads manifests from the main branch of a repository of gh.
func fromGitHub(gh *githubtest.Server, repo string) func(string) ([]byte, bool) {
	return func(path string) ([]byte, bool) { return gh.File(repo, "main", path) }
}

func (c *cluster) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer "+argoToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	name, ok := strings.CutPrefix(req.URL.Path, "/api/v1/applications/")
	a, known := c.apps[name]
	if !ok || !known {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if req.URL.Query().Get("refresh") != "" {
		content, ok := c.read(a.path)
		if !ok {
			http.Error(w, "manifest missing", http.StatusInternalServerError)
			return
		}
		spec, err := rollout.SpecFromManifest(content, "platform-demo")
		if err == nil {
			_, err = a.ro.Apply(req.Context(), spec)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		c.mu.Lock()
		c.synced = append(c.synced, spec.Image)
		if c.live == nil {
			c.live = map[string]string{}
		}
		c.live[name] = spec.Image
		c.mu.Unlock()
	}
	c.mu.Lock()
	image := c.live[name]
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"metadata": map[string]string{"name": name},
		"status": map[string]any{
			"sync":    map[string]string{"status": "Synced"},
			"health":  map[string]string{"status": "Healthy"},
			"summary": map[string]any{"images": []string{image}},
		},
	})
}

// TestGitHubMode runs the production path, as the Actions job does, against
// local stand-ins: a registry that requires credentials to push, the GitHub
// Contents API, and an Argo CD whose refresh rolls the bumped image out.
func TestGitHubMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service: skipped with -short")
	}
	t.Parallel()
	ctx := context.Background()
	root := clone(t)
	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	const gitopsRepo, gitopsPath = "andrelair-platform/minicloud-gitops", "manifests/platform-demo/00-deployment.yaml"
	seed, err := os.ReadFile(filepath.Join(root, "gitops", gitopsPath))
	if err != nil {
		t.Fatal(err)
	}

	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.CreateRepo(gitopsRepo, "main", map[string]string{gitopsPath: string(seed)})
	gh.AddToken(ghToken, githubtest.Token{Login: "platform-bot", Scopes: []string{"repo"}})
	reg := httptest.NewServer(pushAuth())
	defer reg.Close()
	ro, err := rollout.Start(ctx, rollout.Options{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	argo := &cluster{t: t, read: fromGitHub(gh, gitopsRepo), apps: map[string]app{"platform-demo": {gitopsPath, ro}}}
	argoSrv := httptest.NewServer(argo)
	defer argoSrv.Close()

	stepSummary := filepath.Join(t.TempDir(), "step-summary.md")
	imagePrefix := strings.TrimPrefix(reg.URL, "http://") + "/andrelair-platform"
	imageRepo := imagePrefix + "/platform-demo"
	env := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main",
		"GITHUB_SHA": info.Commit, "GITHUB_REPOSITORY": "andrelair-platform/platform-demo",
		"GITHUB_STEP_SUMMARY": stepSummary, "GITHUB_OUTPUT": filepath.Join(t.TempDir(), "output"), "PIPELINE_STATE_DIR": t.TempDir(),
		"KO_DOCKER_REPO": imagePrefix, "REGISTRY_USERNAME": regUser, "REGISTRY_PASSWORD": regPass,
		// gcr.io is out of reach here; production uses .ko.yaml's distroless base.
		"PUBLISH_BASE": "local",
		"GITOPS_REPO":  gitopsRepo, "GITOPS_TOKEN": ghToken, "GITHUB_API_URL": gh.URL,
		"ARGOCD_SERVER": argoSrv.URL, "ARGOCD_APP": "platform-demo", "ARGOCD_AUTH_TOKEN": argoToken,
		"VERIFY_URL": ro.URL(), "VERIFY_INTERVAL": "100ms", "VERIFY_TIMEOUT": "1m",
		// The soak and its verdicts are the local tests' (soak_test.go):
		// this one counts the API calls of a deploy.
		"VERIFY_SOAK": "0",
	}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Mode(); got != "github" {
		t.Fatalf("Mode() = %q, want github", got)
	}

	sum, err := Run(ctx, Options{Settings: s, Build: info})
	if err != nil {
		t.Fatalf("Run() error = %v\n%s", err, sum.Text())
	}
	if got, want := stages(sum), "test:skipped plan:ok platform-demo build:ok platform-demo push:ok platform-demo bump:ok platform-demo refresh:ok platform-demo verify:ok"; got != want {
		t.Errorf("stages = %q, want %q\n%s", got, want, sum.Text())
	}
	r := result(t, sum, "platform-demo")
	if r.LiveCommit != info.Commit {
		t.Errorf("live commit %q, want %q", r.LiveCommit, info.Commit)
	}

	content, _ := gh.File(gitopsRepo, "main", gitopsPath)
	cur, err := manifest.Read(content, "platform-demo")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Image != r.Image || !strings.HasPrefix(cur.Image, imageRepo+":"+info.Version+"@sha256:") || cur.SourceCommit != info.Commit {
		t.Errorf("gitops manifest deploys %q from %q, want %q from %s", cur.Image, cur.SourceCommit, r.Image, info.Commit)
	}
	if log := gh.Log(gitopsRepo, "main"); len(log) != 2 || !strings.HasPrefix(log[0].Message, "ci(platform-demo): deploy "+info.Commit[:7]) || !strings.Contains(log[0].Message, "Source-Commit: "+info.Commit) {
		t.Errorf("gitops log = %+v, want one bump commit on top of the seed", log)
	}
	// The happy path is a read of what staging runs, then the bump's read
	// and write of the manifest.
	if got := gh.Requests(); got != 3 {
		t.Errorf("GitHub API requests = %d (%v), want 3", got, gh.Counts())
	}
	argo.mu.Lock()
	synced := argo.synced
	argo.mu.Unlock()
	if len(synced) != 1 || synced[0] != r.Image {
		t.Errorf("Argo CD rolled out %v, want exactly %s", synced, r.Image)
	}
	jsonPath := filepath.Join(s.StateDir, "ci-summary.json")
	if err := WriteSummary(sum, jsonPath, s.StepSummary, s.StepOutput); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(stepSummary)
	if err != nil || !strings.Contains(string(md), "| platform-demo refresh | ok |") {
		t.Errorf("GITHUB_STEP_SUMMARY = %q, %v; want the stage table", md, err)
	}
	// The attestation step of the workflow signs the digest the run pushed.
	out, err := os.ReadFile(s.StepOutput)
	_, digest, _ := strings.Cut(r.Image, "@")
	images := fmt.Sprintf(`images=[{"service":"platform-demo","image":%q,"digest":%q}]`, imageRepo, digest)
	for _, line := range []string{"deploy=true", images, "deployed=platform-demo", "live=true"} {
		if err != nil || !strings.Contains(string(out), line+"\n") {
			t.Errorf("GITHUB_OUTPUT = %q, %v; want a line %q", out, err, line)
		}
	}

	// The branch is protected now: the next commit goes through a pull
	// request. Without BUMP_MERGE the run ends at it; with it, the run
	// merges it and verifies as before.
	gh.Protect(gitopsRepo, "main")
	for _, merge := range []string{"0", "1"} {
		next := change(t, root, "platform-demo", "next, merge "+merge)
		env["GITHUB_SHA"], env["BUMP_MODE"], env["BUMP_MERGE"] = next.Commit, "pr", merge
		s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Run(ctx, Options{Settings: s, Build: next})
		if err != nil {
			t.Fatalf("Run(pr, merge %s) error = %v\n%s", merge, err, sum.Text())
		}
		want := "test:skipped plan:ok platform-demo build:ok platform-demo push:ok platform-demo bump:ok"
		if merge == "1" {
			want += " platform-demo refresh:ok platform-demo verify:ok"
		}
		if got := stages(sum); got != want {
			t.Errorf("Run(pr, merge %s) stages = %q, want %q\n%s", merge, got, want, sum.Text())
		}
		r := result(t, sum, "platform-demo")
		if merge == "0" && (r.Result != Proposed || !strings.Contains(r.Detail, "waits in pull request")) {
			t.Errorf("Run(pr) = %+v, want the change proposed in a pull request that waits", r)
		}
		if merge == "1" && (r.Result != Deployed || r.LiveCommit != next.Commit) {
			t.Errorf("Run(pr, merge) = %+v, want %q deployed and live", r, next.Commit)
		}
	}
}

// TestGateOnly guards pull requests: their run is the gate alone, and a
// failed gate never pushes or bumps, even where a deploy would run.
func TestGateOnly(t *testing.T) {
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.CreateRepo("o/gitops", "main", map[string]string{"a.yaml": "a: 1\n"})
	reg := httptest.NewServer(pushAuth())
	defer reg.Close()
	root := clone(t)
	info, err := buildinfo.Read(context.Background(), buildinfo.Options{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"GITHUB_ACTIONS": "true", "KO_DOCKER_REPO": strings.TrimPrefix(reg.URL, "http://") + "/p",
		"GITOPS_REPO": "o/gitops", "GITHUB_API_URL": gh.URL, "GITOPS_TOKEN": ghToken, "PIPELINE_STATE_DIR": t.TempDir(),
	}
	tests := []struct {
		name    string
		env     map[string]string
		gate    error
		stages  string
		deploys bool
	}{
		{"pull request", map[string]string{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"}, nil, "test:ok deploy:skipped", false},
		{"push to a feature branch", map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature"}, nil, "test:ok deploy:skipped", false},
		{"failed gate on main", map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, errors.New("tests failed"), "test:failed plan:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tt.env)
			s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := Run(context.Background(), Options{Settings: s, Build: info,
				Gate: func(context.Context) (string, error) { return "fixture gate", tt.gate }})
			if (err != nil) != (tt.gate != nil) {
				t.Fatalf("Run() error = %v, want %v", err, tt.gate)
			}
			if got := stages(sum); !strings.HasPrefix(got, tt.stages) || sum.Deploy != tt.deploys {
				t.Errorf("stages = %q (deploy %v), want %q… (deploy %v)\n%s", got, sum.Deploy, tt.stages, tt.deploys, sum.Text())
			}
			for k, n := range gh.Counts() {
				if !strings.HasPrefix(k, "GET ") {
					t.Errorf("GitHub request %s (%d times), want reads only: nothing is bumped", k, n)
				}
			}
			for _, r := range sum.Services {
				if r.Image != "" || r.Result == Deployed {
					t.Errorf("%s = %+v, want nothing pushed or deployed", r.Service, r)
				}
			}
		})
	}
}
