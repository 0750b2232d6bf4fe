package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoEnvironments = `# comment
environments:
  - name: staging
    path: manifests/app/00-deployment.yaml
    verifyURL: http://app.example
    argocdApp: app
  - name: production
    path: manifests/app-production/00-deployment.yaml
    verifyURL: http://app-production.example
    argocdApp: app-production
    localAddr: 127.0.0.1:9191
`

func TestParseEnvironments(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // errors; none: valid
	}{
		{"two", twoEnvironments, nil},
		{"unknown field", "environments:\n  - name: staging\n    path: a.yaml\n    verifyUrl: http://x\n", []string{"environments.yaml: line 4: field verifyUrl not found", "known fields: name, path"}},
		{"unknown top-level key", "environment:\n  - name: staging\n", []string{"line 1: field environment not found", "`environments:` only"}},
		{"duplicate", "environments:\n  - name: staging\n    path: a.yaml\n  - name: staging\n    path: b.yaml\n", []string{"environments.yaml:4: environment \"staging\" is declared twice (first at line 2)"}},
		{"no path", "environments:\n  - name: staging\n", []string{"environments.yaml:2: environment \"staging\" has no path"}},
		{"bad name", "environments:\n  - name: Prod\n    path: a.yaml\n", []string{`environment name "Prod"`}},
		{"empty", "", []string{"empty"}},
		{"none", "environments: []\n", []string{"no environments"}},
		{"not YAML", "environments: [\n", []string{"environments.yaml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEnvironments("environments.yaml", []byte(tt.data))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ParseEnvironments() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ParseEnvironments() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseEnvironments() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestEnvironments guards how the environments are resolved: the file's
// fields, defaults from the settings, per-run overrides by name, and the
// plain variables for the first, as before environments existed.
func TestEnvironments(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "gitops"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, EnvironmentsFile), []byte(twoEnvironments), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GITOPS_REPO": "o/gitops", "GITOPS_BRANCH": "live",
		"VERIFY_URL":            "http://override.example",
		"ARGOCD_APP_PRODUCTION": "app-prod-override",
	}
	s, err := Load(lookup(env), root)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Environments) != 2 || s.Environment != "staging" {
		t.Fatalf("environments = %+v (current %q)", s.Environments, s.Environment)
	}
	if s.GitopsPath != "manifests/app/00-deployment.yaml" || s.VerifyURL != "http://override.example" || s.ArgoApp != "app" || s.GitopsBranch != "live" || s.LocalAddr != "127.0.0.1:8080" {
		t.Errorf("first environment's settings = path %q verify %q app %q branch %q addr %q", s.GitopsPath, s.VerifyURL, s.ArgoApp, s.GitopsBranch, s.LocalAddr)
	}
	p, err := s.In("production")
	if err != nil {
		t.Fatal(err)
	}
	if p.GitopsPath != "manifests/app-production/00-deployment.yaml" || p.VerifyURL != "http://app-production.example" || p.ArgoApp != "app-prod-override" || p.GitopsBranch != "live" || p.LocalAddr != "127.0.0.1:9191" || p.GitopsContainer != "platform-demo" {
		t.Errorf("production's settings = %+v", p.Environments)
	}
	if prev, err := s.Previous("production"); err != nil || prev.Name != "staging" {
		t.Errorf("Previous(production) = %+v, %v; want staging", prev, err)
	}
	if _, err := s.Previous("staging"); err == nil || !strings.Contains(err.Error(), "first environment") {
		t.Errorf("Previous(staging) = %v, want the first environment refused", err)
	}
	if _, err := s.In("qa"); err == nil || !strings.Contains(err.Error(), "staging, production") {
		t.Errorf("In(qa) = %v, want the environments named", err)
	}

	// The local loop verifies its own rollouts, not the cluster's addresses.
	local, err := Load(lookup(nil), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range local.Environments {
		if e.VerifyURL != "" {
			t.Errorf("local mode: %s verifies %q, want its local rollout", e.Name, e.VerifyURL)
		}
	}
}

// TestEnvironmentsInActions guards the hosted runner: it cannot reach the
// cluster's addresses in the file, so only the workflow's variables say
// where to verify.
func TestEnvironmentsInActions(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "gitops"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, EnvironmentsFile), []byte(twoEnvironments), 0o644); err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main",
		"GITOPS_REPO": "o/gitops", "GITOPS_TOKEN": "ghp_" + strings.Repeat("a", 36),
	}
	tests := []struct {
		name                string
		env                 map[string]string
		staging, production string
	}{
		{"no variables: nothing to verify from the runner", nil, "", ""},
		{"VERIFY_URL set to empty, as an unset repository variable is", map[string]string{"VERIFY_URL": ""}, "", ""},
		{"the workflow names both", map[string]string{"VERIFY_URL": "https://s.example", "VERIFY_URL_PRODUCTION": "https://p.example"}, "https://s.example", "https://p.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range actions {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			s, err := Load(lookup(env), root)
			if err != nil {
				t.Fatal(err)
			}
			if got := []string{s.Environments[0].VerifyURL, s.Environments[1].VerifyURL}; got[0] != tt.staging || got[1] != tt.production {
				t.Errorf("verify URLs = %q, want %q and %q", got, tt.staging, tt.production)
			}
		})
	}
}

// TestWithout guards what the tests and the processes they start may see:
// nothing of the pipeline's settings, its per-environment overrides
// included, and everything else.
func TestWithout(t *testing.T) {
	in := []string{"PATH=/bin", "HOME=/root", "GOFLAGS=-mod=mod", "GITOPS_REPO=o/g", "GITHUB_ACTIONS=true", "GITHUB_EVENT_NAME=push",
		"VERIFY_URL=http://s", "VERIFY_URL_PRODUCTION=http://p", "LOCAL_ADDR_QA=127.0.0.1:1", "KO_DOCKER_REPO=ghcr.io/o/r", "GITOPS_APP_ID=12", "BUMP_MODE=pr"}
	got := strings.Join(Without(in), " ")
	if want := "PATH=/bin HOME=/root GOFLAGS=-mod=mod"; got != want {
		t.Errorf("Without() = %q, want %q", got, want)
	}
}
