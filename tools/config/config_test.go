package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// repo writes a repository with the named services (modules of go.work
// with a main package) and, when not empty, an environments file.
func repo(t *testing.T, environments string, services ...string) string {
	t.Helper()
	root := t.TempDir()
	work := "go 1.26\n\nuse (\n"
	for _, name := range services {
		write(t, root, "services/"+name+"/go.mod", "module example.com/services/"+name+"\n\ngo 1.26\n")
		write(t, root, "services/"+name+"/main.go", "package main\n\nfunc main() {}\n")
		work += "\t./services/" + name + "\n"
	}
	write(t, root, "go.work", work+")\n")
	if environments != "" {
		write(t, root, EnvironmentsFile, environments)
	}
	return root
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantMode  string
		wantImage string
		wantErrs  []string
	}{
		{name: "nothing set is the local loop", env: nil, wantMode: "local", wantImage: "127.0.0.1:5055/platform-demo"},
		{
			name:      "github settings",
			env:       map[string]string{"KO_DOCKER_REPO": "ghcr.io/o/p", "GITOPS_REPO": "o/gitops", "GITHUB_ACTIONS": "true"},
			wantMode:  "github",
			wantImage: "ghcr.io/o/p/platform-demo",
		},
		{name: "registry only", env: map[string]string{"KO_DOCKER_REPO": "127.0.0.1:5000/p"}, wantMode: "mixed", wantImage: "127.0.0.1:5000/p/platform-demo"},
		{name: "a registry host alone", env: map[string]string{"KO_DOCKER_REPO": "127.0.0.1:5000/"}, wantMode: "mixed", wantImage: "127.0.0.1:5000/platform-demo"},
		{
			// Guards against a hosted runner silently running the local loop.
			name:     "actions deploy without configuration",
			env:      map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"},
			wantErrs: []string{"GITOPS_REPO is not set inside GitHub Actions"},
		},
		{
			// ghcr.io refuses capitals; github.repository keeps the owner's.
			name:      "actions deploy derives the image repository in lower case",
			env:       map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main", "GITHUB_REPOSITORY": "AndreLiar/Platform-Demo", "GITOPS_REPO": "o/g"},
			wantMode:  "github",
			wantImage: "ghcr.io/andreliar/platform-demo",
		},
		{name: "capitals in the image repository", env: map[string]string{"KO_DOCKER_REPO": "ghcr.io/AndreLiar/x"}, wantErrs: []string{"write it in lower case, ghcr.io/andreliar/x"}},
		{
			// A pull request runs the gate only, without deploy settings.
			name:     "actions pull request without configuration",
			env:      map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"},
			wantMode: "local", wantImage: "127.0.0.1:5055/platform-demo",
		},
		{
			name:     "malformed values name the variable",
			env:      map[string]string{"VERIFY_INTERVAL": "2", "VERIFY_CONSECUTIVE": "x", "BUMP_FORCE": "maybe", "VERIFY_URL": "platform-demo.local"},
			wantErrs: []string{`VERIFY_INTERVAL="2"`, `VERIFY_CONSECUTIVE="x"`, `BUMP_FORCE="maybe"`, `VERIFY_URL="platform-demo.local"`},
		},
		{name: "half argo", env: map[string]string{"ARGOCD_SERVER": "https://argocd.example"}, wantErrs: []string{"ARGOCD_APP"}},
		{name: "base that is no image reference", env: map[string]string{"PUBLISH_BASE": "Not An Image"}, wantErrs: []string{`PUBLISH_BASE="Not An Image"`}},
		{name: "base image reference", env: map[string]string{"PUBLISH_BASE": "127.0.0.1:5000/base:v1"}, wantMode: "local", wantImage: "127.0.0.1:5055/platform-demo"},
		{name: "unknown runtime", env: map[string]string{"LOCAL_RUNTIME": "docker"}, wantErrs: []string{`LOCAL_RUNTIME="docker"`}},
		// Settings that loaded, then failed at the commit or were written
		// into it as they were.
		{name: "blank commit message", env: map[string]string{"BUMP_MESSAGE": "  \n"}, wantErrs: []string{`BUMP_MESSAGE="  \n" is blank: unset it for the default message`}},
		{name: "author email that is no email address", env: map[string]string{"BUMP_AUTHOR_NAME": "Release Bot", "BUMP_AUTHOR_EMAIL": "not an email"},
			wantErrs: []string{`BUMP_AUTHOR_EMAIL: "not an email" is not an email address: want one as name@host`}},
		{name: "author name on two lines", env: map[string]string{"BUMP_AUTHOR_NAME": "Bot\nSigned-off-by: x", "BUMP_AUTHOR_EMAIL": "bot@example.com"},
			wantErrs: []string{`BUMP_AUTHOR_NAME: name "Bot\nSigned-off-by: x" is not one line`}},
		// Paths that lead out of the gitops repository.
		{name: "path that climbs out", env: map[string]string{"GITOPS_PATH": "../../../elsewhere/x.yaml"}, wantErrs: []string{`GITOPS_PATH="../../../elsewhere/x.yaml" climbs out of the repository (a .. part): give the manifest's path inside the gitops repository`}},
		{name: "absolute path", env: map[string]string{"GITOPS_PATH": "/etc/passwd"}, wantErrs: []string{`GITOPS_PATH="/etc/passwd" is absolute`}},
		{name: "path into .git", env: map[string]string{"GITOPS_PATH": ".git/config"}, wantErrs: []string{`GITOPS_PATH=".git/config" is inside .git`}},
		{name: "branch that reads as an option", env: map[string]string{"GITOPS_BRANCH": "--upload-pack=x"}, wantErrs: []string{`GITOPS_BRANCH="--upload-pack=x" starts with -`}},
		// Addresses that do not parse.
		{name: "local address that is no address", env: map[string]string{"LOCAL_ADDR": "garbage"}, wantErrs: []string{`LOCAL_ADDR="garbage" is not host:port (missing port in address): want an address such as 127.0.0.1:8080`}},
		{name: "registry address that is no address", env: map[string]string{"LOCAL_REGISTRY_ADDR": "127.0.0.1:port"}, wantErrs: []string{`LOCAL_REGISTRY_ADDR="127.0.0.1:port" has no port number`}},
		{name: "verify URL with a password, not http", env: map[string]string{"VERIFY_URL": "ftp://user:SENTINEL@host"}, wantErrs: []string{`VERIFY_URL="ftp://host" is not an http(s) URL`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(lookup(tt.env), "/repo")
			if len(tt.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("Load() error = nil, want %q", tt.wantErrs)
				}
				for _, want := range tt.wantErrs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Load() error = %q, want it to contain %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "SENTINEL") {
					t.Errorf("Load() error = %q shows a credential", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if got := s.Mode(); got != tt.wantMode {
				t.Errorf("Mode() = %q, want %q", got, tt.wantMode)
			}
			if got := s.ImageRepo("platform-demo"); got != tt.wantImage {
				t.Errorf("ImageRepo(platform-demo) = %q, want %q", got, tt.wantImage)
			}
		})
	}
}

func TestLoadDefaultsAndSources(t *testing.T) {
	const token = "ghp_SENTINEL1234567890abcdefghijklmnopqr"
	s, err := Load(lookup(map[string]string{"VERIFY_TIMEOUT": "2m", "GITOPS_TOKEN": token, "GITOPS_REPO": "o/gitops"}), "/repo")
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifyInterval != verify.DefaultInterval || s.VerifyTimeout != 2*time.Minute || s.VerifyConsecutive != verify.DefaultConsecutive {
		t.Errorf("verify settings = %s/%s/%d, want %s/2m0s/%d", s.VerifyInterval, s.VerifyTimeout, s.VerifyConsecutive, verify.DefaultInterval, verify.DefaultConsecutive)
	}
	tests := []struct {
		name   string
		source Source
		shown  string
	}{
		{"VERIFY_TIMEOUT", FromEnv, "2m"},
		{"GITOPS_PATH", Unset, "(unset)"},
		{"KO_DOCKER_REPO", Unset, "(unset)"},
		{"GITOPS_TOKEN", FromEnv, "ghp_… (40 characters)"},
	}
	for _, tt := range tests {
		v, ok := s.Var(tt.name)
		if !ok || v.Source != tt.source || v.Shown() != tt.shown {
			t.Errorf("Var(%q) = %+v (shown %q), %v; want source %q shown %q", tt.name, v, v.Shown(), ok, tt.source, tt.shown)
		}
	}
	for _, v := range s.Vars {
		if strings.Contains(v.Shown(), token) {
			t.Errorf("Var(%q).Shown() shows the token", v.Name)
		}
	}
}

// TestLoadLocalVerifyInterval guards the local loop's faster default, and a
// value the user set winning over it.
func TestLoadLocalVerifyInterval(t *testing.T) {
	for env, want := range map[string]time.Duration{"": verify.LocalInterval, "1s": time.Second} {
		s, err := Load(lookup(map[string]string{"VERIFY_INTERVAL": env}), "/repo")
		if err != nil {
			t.Fatal(err)
		}
		if s.VerifyInterval != want {
			t.Errorf("local mode, VERIFY_INTERVAL=%q: interval %s, want %s", env, s.VerifyInterval, want)
		}
	}
}

// TestLoadRefusesFakeSecrets guards every target: config.Load is what each
// of them calls first, so a secret that cannot be real stops them before
// anything is sent, with the fix intact.
func TestLoadRefusesFakeSecrets(t *testing.T) {
	tests := []struct {
		name, value string
		want        []string
	}{
		{"GITOPS_TOKEN", "-", []string{`GITOPS_TOKEN is the literal "-"`, "--body -", "gh secret set GITOPS_TOKEN -R andrelair-platform/platform-demo"}},
		{"GITOPS_TOKEN", "ghp_SENTINEL1234567890abcdefghijklmnopqr\n", []string{"ends with a newline"}},
		{"REGISTRY_PASSWORD", "-", []string{`REGISTRY_PASSWORD is the literal "-"`}},
		{"ARGOCD_AUTH_TOKEN", "'abc'", []string{"wrapped in quotes"}},
		{"ARGOCD_AUTH_TOKEN", "short", []string{"too short"}},
	}
	for _, tt := range tests {
		_, err := Load(lookup(map[string]string{tt.name: tt.value, "REGISTRY_USERNAME": "u"}), "/repo")
		if err == nil {
			t.Errorf("Load(%s=%q) error = nil, want it refused", tt.name, tt.value)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%s=%q) error = %q, want it to contain %q", tt.name, tt.value, err, w)
			}
		}
	}
}

func TestDeploys(t *testing.T) {
	tests := []struct {
		env    map[string]string
		deploy bool
		why    string
	}{
		{nil, true, "outside GitHub Actions"},
		{map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, true, "push to main"},
		{map[string]string{"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/main"}, true, "workflow_dispatch"},
		{map[string]string{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"}, false, "pull_request event: gate only"},
		{map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature"}, false, "push to feature: gate only; deploys run on pushes to main"},
		{map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/release", "DEPLOY_BRANCH": "release"}, true, "push to release"},
		{map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1"}, false, "gate"},
	}
	for _, tt := range tests {
		env := map[string]string{"KO_DOCKER_REPO": "ghcr.io/o/p", "GITOPS_REPO": "o/gitops"}
		for k, v := range tt.env {
			env[k] = v
			env["GITHUB_ACTIONS"] = "true"
		}
		s, err := Load(lookup(env), "/repo")
		if err != nil {
			t.Fatal(err)
		}
		deploy, why := s.Deploys()
		if deploy != tt.deploy || !strings.Contains(why, tt.why) {
			t.Errorf("Deploys() with %v = %v, %q; want %v, %q", tt.env, deploy, why, tt.deploy, tt.why)
		}
	}
}

// A relative state directory is the repository's: its local gitops
// repository is then an absolute path, which the bump can never take for a
// GitHub owner/name.
func TestRelativeStateDir(t *testing.T) {
	s, err := Load(lookup(map[string]string{"PIPELINE_STATE_DIR": "state"}), "/repo")
	if err != nil {
		t.Fatal(err)
	}
	if s.StateDir != "/repo/state" || s.GitopsTarget() != "/repo/state/gitops.git" || bump.IsGitHubRepo(s.GitopsTarget()) {
		t.Errorf("state dir %q, gitops target %q (GitHub: %v); want /repo/state and a path", s.StateDir, s.GitopsTarget(), bump.IsGitHubRepo(s.GitopsTarget()))
	}
}
