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
		// What status copied, and bump wrote, outside the repository.
		{"path that climbs out", "environments:\n  - name: staging\n    path: ../../x/f.yaml\n", []string{`environments.yaml:2: environment "staging": path "../../x/f.yaml" climbs out of the repository with ..`}},
		{"absolute path", "environments:\n  - name: staging\n    path: /etc/hosts\n", []string{`environment "staging": path "/etc/hosts" is absolute`}},
		{"branch", "environments:\n  - name: staging\n    path: a.yaml\n    branch: a..b\n", []string{`environment "staging": branch "a..b" has ..`}},
		{"verify URL", "environments:\n  - name: staging\n    path: a.yaml\n    verifyURL: ftp://x\n", []string{`environment "staging": verifyURL "ftp://x" is not an http(s) URL`}},
		{"local address", "environments:\n  - name: staging\n    path: a.yaml\n    localAddr: garbage\n", []string{`environment "staging": localAddr "garbage" is not host:port`}},
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

// TestEnvironmentOverrides guards what an override of an environment's
// field is held to when the settings load: the rule of the field, with the
// variable that was actually set named in the error, once.
func TestEnvironmentOverrides(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "gitops"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, EnvironmentsFile), []byte(twoEnvironments), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"the first environment's own variable", map[string]string{"GITOPS_REPO": "o/g", "VERIFY_URL_STAGING": "ftp://x"}, `VERIFY_URL_STAGING="ftp://x" is not an http(s) URL`},
		{"the plain variable", map[string]string{"GITOPS_REPO": "o/g", "VERIFY_URL": "ftp://x"}, `VERIFY_URL="ftp://x" is not an http(s) URL`},
		{"another environment's", map[string]string{"GITOPS_PATH_PRODUCTION": "../x.yaml"}, `GITOPS_PATH_PRODUCTION="../x.yaml" climbs out`},
		{"an address the next environments count from", map[string]string{"LOCAL_ADDR": "garbage"}, `LOCAL_ADDR="garbage" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(lookup(tt.env), root)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%v) = %v, want %q", tt.env, err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("Load(%v) reports %d errors, want one:\n%v", tt.env, n, err)
			}
		})
	}
}

// TestWarnings guards what the settings allow but must say: local parts
// that other machines can reach, and an override for an environment that
// does not exist, which changes nothing.
func TestWarnings(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "gitops"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, EnvironmentsFile), []byte(twoEnvironments), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing to say", nil, nil},
		{"every interface", map[string]string{"LOCAL_ADDR": "0.0.0.0:8080"}, []string{
			"the local rollout of staging serves on 0.0.0.0:8080 (LOCAL_ADDR), every interface of this machine: other machines can reach it; to keep it on this one, use 127.0.0.1:8080",
		}},
		{"one environment on a LAN address", map[string]string{"LOCAL_ADDR_PRODUCTION": "192.168.1.5:9000"}, []string{
			"the local rollout of production serves on 192.168.1.5:9000 (LOCAL_ADDR_PRODUCTION), an address of this machine's network",
		}},
		{"the registry", map[string]string{"LOCAL_REGISTRY_ADDR": ":5055"}, []string{
			"the embedded registry serves on :5055 (LOCAL_REGISTRY_ADDR), every interface of this machine",
		}},
		{"not the local loop: nothing serves there", map[string]string{"LOCAL_ADDR": "0.0.0.0:8080", "GITOPS_REPO": "o/g"}, nil},
		{"an override for no environment", map[string]string{"VERIFY_URL_QA": "http://qa.example", "VERIFY_URL_PRODUCTION": "http://p.example", "LOCAL_ADDR_PRE_PROD": "127.0.0.1:1"}, []string{
			"LOCAL_ADDR_PRE_PROD is set, but there is no environment pre-prod: it changes nothing (the environments are staging, production, gitops/environments.yaml)",
			"VERIFY_URL_QA is set, but there is no environment qa: it changes nothing (the environments are staging, production, gitops/environments.yaml)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(lookup(tt.env), root)
			if err != nil {
				t.Fatal(err)
			}
			var environ []string
			for k, v := range tt.env {
				environ = append(environ, k+"="+v)
			}
			got := append(s.Warnings, s.StrayOverrides(environ)...)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d: %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
