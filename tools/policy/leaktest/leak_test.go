package leaktest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/internal/magetest"
)

// Sentinel secrets. They look like the real thing so that any code that
// treats tokens by their shape treats these the same way.
const (
	gitopsToken      = "ghp_SENTINEL1234567890abcdefghijklmnopqr"
	wrongGitopsToken = "ghp_SENTINELwrong567890abcdefghijklmnopqr"
	registryUser     = "ci-bot"
	registryPassword = "ghs_SENTINELregistry90abcdefghijklmnopqr"
	argoToken        = "eyJhbGciOiJIUzI1NiJ9.SENTINELargocd.c2lnbmF0dXJl"
	wrongArgoToken   = "eyJhbGciOiJIUzI1NiJ9.SENTINELwrong.c2lnbmF0dXJl"
)

const (
	gitopsRepo     = "andrelair-platform/minicloud-gitops"
	gitopsPath     = "manifests/platform-demo/00-deployment.yaml"
	productionPath = "manifests/platform-demo-production/00-deployment.yaml"
)

// pushImage puts a small image into the registry at host, so that a bump of
// it passes the existence check, and returns its digest-pinned reference.
func pushImage(t *testing.T, host string) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/platform-demo:0123abc")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: registryUser, Password: registryPassword})); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.String() + "@" + d.String()
}

// deployment is the gitops manifest the bump edits; it records no source
// commit, so the bump needs no ancestry of this repository's history.
const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: platform-demo
spec:
  template:
    spec:
      containers:
        - name: platform-demo
          image: ghcr.io/andrelair-platform/platform-demo:1111111
`

func TestTargetsPrintNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the mage targets as subprocesses")
	}
	root := repoRoot(t)

	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.CreateRepo(gitopsRepo, "main", map[string]string{gitopsPath: deployment, productionPath: deployment})
	gh.AddToken(gitopsToken, githubtest.Token{Login: "platform-bot", Scopes: []string{"repo"}})
	accepting := httptest.NewServer(authRegistry(registryPassword))
	defer accepting.Close()
	refusing := httptest.NewServer(authRegistry(""))
	defer refusing.Close()
	argo := httptest.NewServer(argoServer())
	defer argo.Close()
	live := httptest.NewServer(liveService(headCommit(t, root.dir)))
	defer live.Close()

	// The settings of a run where everything works; each case breaks one.
	base := map[string]string{
		"GITOPS_REPO":       gitopsRepo,
		"GITOPS_TOKEN":      gitopsToken,
		"GITHUB_API_URL":    gh.URL,
		"KO_DOCKER_REPO":    strings.TrimPrefix(accepting.URL, "http://"),
		"REGISTRY_USERNAME": registryUser,
		"REGISTRY_PASSWORD": registryPassword,
		"PUBLISH_BASE":      "local",
		"ARGOCD_SERVER":     argo.URL,
		"ARGOCD_APP":        "platform-demo",
		"ARGOCD_AUTH_TOKEN": argoToken,
		"VERIFY_URL":        live.URL,
		// doctor asks every environment of gitops/environments.yaml; on
		// loopback, never the cluster address the file names.
		"VERIFY_URL_PRODUCTION": live.URL,
		"VERIFY_CONSECUTIVE":    "1",
		"VERIFY_TIMEOUT":        "2s",
		"VERIFY_INTERVAL":       "200ms",
		"PIPELINE_STATE_DIR":    t.TempDir(),
	}
	refusingRepo := strings.TrimPrefix(refusing.URL, "http://")
	image := pushImage(t, strings.TrimPrefix(accepting.URL, "http://"))
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		succeed bool
	}{
		{name: "doctor", args: []string{"doctor"}, succeed: true},
		{
			// Every check fails: a rejected token, a refused push, a closed
			// verify port, a rejected Argo CD token.
			name: "doctor with everything rejected", args: []string{"doctor"},
			env: map[string]string{
				"GITOPS_TOKEN": wrongGitopsToken, "KO_DOCKER_REPO": refusingRepo,
				"VERIFY_URL": closedURL(t), "VERIFY_URL_PRODUCTION": closedURL(t), "ARGOCD_AUTH_TOKEN": wrongArgoToken,
			},
		},
		{name: "doctor with a token ending in a newline", args: []string{"doctor"}, env: map[string]string{"GITOPS_TOKEN": gitopsToken + "\n"}},
		{name: "publish refused by the registry", args: []string{"publish"}, env: map[string]string{"KO_DOCKER_REPO": refusingRepo}},
		{name: "publish", args: []string{"publish"}, succeed: true},
		{name: "bump with a rejected token", args: []string{"bump", image}, env: map[string]string{"GITOPS_TOKEN": wrongGitopsToken}},
		{name: "bump", args: []string{"bump", image}, succeed: true},
		{name: "verify against a closed port", args: []string{"verify"}, env: map[string]string{"VERIFY_URL": closedURL(t)}},
		{name: "verify", args: []string{"verify"}, succeed: true},
	}
	targets := listTargets(t, root)
	secrets := []string{gitopsToken, wrongGitopsToken, registryPassword, argoToken, wrongArgoToken,
		registryUser + ":" + registryPassword, "x-access-token:" + gitopsToken, "x-access-token:" + wrongGitopsToken}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Contains(targets, tt.args[0]) {
				t.Fatalf("the magefile has no target %q (targets: %s)", tt.args[0], strings.Join(targets, ", "))
			}
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			out, err := mage(t, root, env, tt.args...)
			t.Logf("mage %s:\n%s", strings.Join(tt.args, " "), out)
			switch {
			case tt.succeed && err != nil:
				t.Errorf("mage %s: %v, want success:\n%s", strings.Join(tt.args, " "), err, out)
			case !tt.succeed && err == nil:
				t.Errorf("mage %s succeeded, want a failure:\n%s", strings.Join(tt.args, " "), out)
			}
			for _, s := range secrets {
				for _, form := range encodings(s) {
					if strings.Contains(out, form) {
						t.Errorf("mage %s printed the secret %.4s… (as %.12s…):\n%s", strings.Join(tt.args, " "), s, form, out)
					}
				}
			}
		})
	}
	if _, ok := gh.File(gitopsRepo, "main", gitopsPath); !ok {
		t.Errorf("the gitops manifest is gone after the bumps")
	}
}

// encodings are the forms in which a secret travels: as is, and in base64
// as HTTP basic auth and Docker config files carry it.
func encodings(s string) []string {
	return []string{
		s,
		base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)),
		base64.RawURLEncoding.EncodeToString([]byte(s)),
	}
}

// mage runs the targets (`go tool mage args...`, compiled) in the
// repository with env as the pipeline's settings, and returns stdout and
// stderr together.
func mage(t *testing.T, root repo, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, root.targets, args...)
	cmd.Dir = root.dir
	cmd.Env = environ(env)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mage %s did not finish in time:\n%s", strings.Join(args, " "), out.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run mage %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), err
}

// environ is this process's environment without any of the pipeline's
// settings (a developer's or the CI runner's), plus env.
func environ(env map[string]string) []string {
	out := config.Without(os.Environ())
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// listTargets returns the names `go tool mage -l` lists.
func listTargets(t *testing.T, root repo) []string {
	t.Helper()
	out, err := mage(t, root, nil, "-l")
	if err != nil {
		t.Fatalf("mage -l: %v\n%s", err, out)
	}
	var targets []string
	_, list, _ := strings.Cut(out, "Targets:\n")
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			targets = append(targets, strings.TrimSuffix(f[0], "*"))
		}
	}
	return targets
}

// authRegistry is an OCI registry that wants basic auth with password; an
// empty password accepts none, as a registry does for a wrong password.
func authRegistry(password string) http.Handler {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if user, pass, ok := req.BasicAuth(); !ok || password == "" || user != registryUser || pass != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		reg.ServeHTTP(w, req)
	})
}

// argoServer answers Argo CD's application Get for argoToken only, and
// 401 as Argo CD does for any other token.
func argoServer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if req.Header.Get("Authorization") != "Bearer "+argoToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid session","code":16,"message":"invalid session: token is invalid"}`)
			return
		}
		name := req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]
		io.WriteString(w, `{"metadata":{"name":"`+name+`"}}`)
	})
}

// liveService answers /version as the service built from commit does.
func liveService(commit string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version":"`+commit[:7]+`","commit":"`+commit+`"}`)
	})
}

// headCommit is the commit the targets build and verify.
func headCommit(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// repo is the repository the targets run in, and the targets compiled.
type repo struct {
	dir, targets string
}

// repoRoot is a workspace of the stand-in service, with the gitops
// template, committed once, where the targets run; the targets are this
// repository's magefile, compiled from the working tree, so these tests run
// again when the magefile or the tools change, and not when a service does.
func repoRoot(t *testing.T) repo {
	t.Helper()
	src := inputstest.Need(t, inputs.Targets, inputs.Gitops)
	dir := t.TempDir()
	if err := fixture.Repo(dir, filepath.Join(src, "gitops"), fixture.Reference); err != nil {
		t.Fatal(err)
	}
	return repo{dir: dir, targets: magetest.Compile(t, src)}
}

func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
