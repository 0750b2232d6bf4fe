package config

import (
	"strings"
	"testing"
	"time"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
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
			wantImage: "ghcr.io/o/p",
		},
		{name: "registry only", env: map[string]string{"KO_DOCKER_REPO": "127.0.0.1:5000/p"}, wantMode: "mixed", wantImage: "127.0.0.1:5000/p"},
		{
			// Guards against a hosted runner silently running the local loop.
			name:     "actions without configuration",
			env:      map[string]string{"GITHUB_ACTIONS": "true"},
			wantErrs: []string{"KO_DOCKER_REPO is not set inside GitHub Actions", "GITOPS_REPO is not set inside GitHub Actions"},
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
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if got := s.Mode(); got != tt.wantMode {
				t.Errorf("Mode() = %q, want %q", got, tt.wantMode)
			}
			if got := s.ImageRepo(); got != tt.wantImage {
				t.Errorf("ImageRepo() = %q, want %q", got, tt.wantImage)
			}
		})
	}
}

func TestLoadDefaultsAndSources(t *testing.T) {
	s, err := Load(lookup(map[string]string{"VERIFY_INTERVAL": "200ms", "GITOPS_TOKEN": "ghp_x\n"}), "/repo")
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifyInterval != 200*time.Millisecond || s.VerifyTimeout != 10*time.Minute || s.VerifyConsecutive != 3 {
		t.Errorf("verify settings = %s/%s/%d, want 200ms/10m0s/3", s.VerifyInterval, s.VerifyTimeout, s.VerifyConsecutive)
	}
	// A token with a newline is kept as is so that doctor can report it.
	if s.GitopsToken != "ghp_x\n" {
		t.Errorf("GitopsToken was altered (length %d, want 6)", len(s.GitopsToken))
	}
	for name, want := range map[string]Source{"VERIFY_INTERVAL": FromEnv, "GITOPS_PATH": FromDefault, "KO_DOCKER_REPO": Unset} {
		if got := s.Sources[name]; got != want {
			t.Errorf("Sources[%q] = %q, want %q", name, got, want)
		}
	}
	if got, want := s.GitopsTarget(), "/repo/.state/gitops.git"; got != want {
		t.Errorf("GitopsTarget() = %q, want %q", got, want)
	}
}

func TestIsGitHubRepo(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"andrelair-platform/minicloud-gitops", true},
		{"https://github.com/o/r.git", false},
		{"/tmp/gitops.git", false},
		{"./gitops", false},
		{"../o/r", false},
		{"o/r/x", false},
	}
	for _, tt := range tests {
		if got := IsGitHubRepo(tt.in); got != tt.want {
			t.Errorf("IsGitHubRepo(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
