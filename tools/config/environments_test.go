package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
		{"path that climbs out", "environments:\n  - name: staging\n    path: ../../x/f.yaml\n", []string{`environments.yaml:2: environment "staging": path "../../x/f.yaml" climbs out of the repository (a .. part)`}},
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

// TestTargets guards how a service's target in an environment is
// resolved: the file's fields with {service} filled in, defaults from the
// settings, per-run overrides by name, the plain variables for the first
// environment, and a service's service.yaml.
func TestTargets(t *testing.T) {
	const file = `environments:
  - name: staging
    path: manifests/{service}/00-deployment.yaml
    verifyURL: http://{service}.example
    argocdApp: "{service}"
    namespace: apps
  - name: production
    path: manifests/{service}-production/00-deployment.yaml
    verifyURL: http://{service}-production.example
    argocdApp: "{service}-production"
    localAddr: 127.0.0.1:9191
`
	root := repo(t, file, "api", "web")
	write(t, root, "services/web/service.yaml", "container: frontend\nlocalSlot: 4\nmanifests:\n  production: manifests/web-prod/deploy.yaml\n")
	env := map[string]string{
		"GITOPS_REPO": "o/gitops", "GITOPS_BRANCH": "live",
		"VERIFY_URL":            "http://{service}.override.example",
		"ARGOCD_APP_PRODUCTION": "prod-{service}",
	}
	s, err := Load(lookup(env), root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		svc, env string
		want     Target
	}{
		{"api", "staging", Target{Path: "manifests/api/00-deployment.yaml", Branch: "live", Container: "api", VerifyURL: "http://api.override.example", ArgoApp: "api", LocalAddr: "127.0.0.1:8080", Namespace: "apps"}},
		{"api", "production", Target{Path: "manifests/api-production/00-deployment.yaml", Branch: "live", Container: "api", VerifyURL: "http://api-production.example", ArgoApp: "prod-api", LocalAddr: "127.0.0.1:9191"}},
		{"web", "staging", Target{Path: "manifests/web/00-deployment.yaml", Branch: "live", Container: "frontend", VerifyURL: "http://web.override.example", ArgoApp: "web", LocalAddr: "127.0.0.1:8120", Namespace: "apps"}},
		{"web", "production", Target{Path: "manifests/web-prod/deploy.yaml", Branch: "live", Container: "frontend", VerifyURL: "http://web-production.example", ArgoApp: "prod-web", LocalAddr: "127.0.0.1:9231"}},
	}
	for _, tt := range tests {
		got, err := s.Target(tt.svc, tt.env)
		if err != nil {
			t.Fatalf("Target(%s, %s): %v", tt.svc, tt.env, err)
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Target{}, "Service", "Environment", "Index", "Probes")); diff != "" {
			t.Errorf("Target(%s, %s) mismatch (-want +got):\n%s", tt.svc, tt.env, diff)
		}
	}
	if prev, err := s.Previous("production"); err != nil || prev.Name != "staging" {
		t.Errorf("Previous(production) = %+v, %v; want staging", prev, err)
	}
	if _, err := s.Previous("staging"); err == nil || !strings.Contains(err.Error(), "first environment") {
		t.Errorf("Previous(staging) = %v, want the first environment refused", err)
	}
	if _, err := s.Targets("qa", ""); err == nil || !strings.Contains(err.Error(), "staging, production") {
		t.Errorf("Targets(qa) = %v, want the environments named", err)
	}
	if _, err := s.Target("nope", "staging"); err == nil || !strings.Contains(err.Error(), "api and web") {
		t.Errorf("Target(nope) = %v, want the services named", err)
	}
	p, _ := s.Target("api", "production")
	if got := p.Var("VERIFY_URL"); got != "VERIFY_URL_PRODUCTION" {
		t.Errorf("production's Var(VERIFY_URL) = %q, want VERIFY_URL_PRODUCTION", got)
	}
}

// TestTargetsLocal guards the local loop: it verifies its own rollouts,
// not the cluster's addresses in the file.
func TestTargetsLocal(t *testing.T) {
	s, err := Load(lookup(nil), repo(t, twoEnvironments, "app"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.Environments {
		if tg, _ := s.Target("app", e.Name); tg.VerifyURL != "" {
			t.Errorf("local mode: %s verifies %q, want its local rollout", e.Name, tg.VerifyURL)
		}
	}
}

// TestTargetsShared guards two services from writing one manifest, or
// answering on one address: a setting without {service} in a repository of
// several services is refused, naming the variable that set it.
func TestTargetsShared(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{name: "one path in the file", file: "environments:\n  - name: staging\n    path: manifests/app/00-deployment.yaml\n", want: "path of staging"},
		{name: "one path in a variable", env: map[string]string{"GITOPS_PATH": "manifests/x.yaml"}, want: "GITOPS_PATH"},
		{name: "one verify URL", env: map[string]string{"GITOPS_REPO": "o/g", "VERIFY_URL": "http://one.example"}, want: "VERIFY_URL"},
		{name: "one application", env: map[string]string{"ARGOCD_APP": "app"}, want: "ARGOCD_APP"},
		{name: "one local port", env: map[string]string{"LOCAL_ADDR": "127.0.0.1:1"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(lookup(tt.env), repo(t, tt.file, "api", "web"))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load = %v, want each service on its own port", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "api and web would share") || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "{service}") {
				t.Fatalf("Load = %v, want api and web refused a shared value, naming %s and {service}", err, tt.want)
			}
		})
	}
	// One service may name one manifest, as before there were many.
	if _, err := Load(lookup(map[string]string{"GITOPS_PATH": "manifests/x.yaml", "VERIFY_URL": "http://one.example"}), repo(t, "", "api")); err != nil {
		t.Errorf("one service with a plain GITOPS_PATH and VERIFY_URL: %v", err)
	}
}

// TestTargetsLocalPorts guards the local loop's addresses: ten ports
// apart, by the slots services pin, the others in name order in the free
// slots; a service added with the next slot (as `mage new` does) moves no
// other, whatever its name.
func TestTargetsLocalPorts(t *testing.T) {
	root := repo(t, "", "beta", "delta", "gamma")
	write(t, root, "services/delta/service.yaml", "localSlot: 1\n")
	s, err := Load(lookup(nil), root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"beta": "127.0.0.1:8080", "delta": "127.0.0.1:8090", "gamma": "127.0.0.1:8100"}
	for svc, addr := range want {
		if got, _ := s.Target(svc, DefaultEnvironment); got.LocalAddr != addr {
			t.Errorf("local address of %s = %q, want %q", svc, got.LocalAddr, addr)
		}
	}
	if got := s.NextSlot(); got != 3 {
		t.Fatalf("NextSlot() = %d, want 3", got)
	}
	// alpha sorts first, but comes with the next slot.
	write(t, root, "services/alpha/go.mod", "module example.com/services/alpha\n\ngo 1.26\n")
	write(t, root, "services/alpha/main.go", "package main\n\nfunc main() {}\n")
	write(t, root, "services/alpha/service.yaml", "localSlot: 3\n")
	write(t, root, "go.work", "go 1.26\n\nuse (\n\t./services/alpha\n\t./services/beta\n\t./services/delta\n\t./services/gamma\n)\n")
	if s, err = Load(lookup(nil), root); err != nil {
		t.Fatal(err)
	}
	want["alpha"] = "127.0.0.1:8110"
	for svc, addr := range want {
		if got, _ := s.Target(svc, DefaultEnvironment); got.LocalAddr != addr {
			t.Errorf("after alpha is added: local address of %s = %q, want %q", svc, got.LocalAddr, addr)
		}
	}
	write(t, root, "services/gamma/service.yaml", "localSlot: 3\n")
	if _, err := Load(lookup(nil), root); err == nil || !strings.Contains(err.Error(), "both pin localSlot 3") {
		t.Errorf("two services on one slot: %v, want refused", err)
	}
}

// TestEnvironmentsInActions guards the hosted runner: it cannot reach the
// cluster's addresses in the file, so only the workflow's variables say
// where to verify.
func TestEnvironmentsInActions(t *testing.T) {
	root := repo(t, twoEnvironments, "app")
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
			st, _ := s.Target("app", "staging")
			pr, _ := s.Target("app", "production")
			if got := []string{st.VerifyURL, pr.VerifyURL}; got[0] != tt.staging || got[1] != tt.production {
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
	root := repo(t, twoEnvironments, "app")
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
	root := repo(t, twoEnvironments, "app")
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing to say", nil, nil},
		{"every interface", map[string]string{"LOCAL_ADDR": "0.0.0.0:8080"}, []string{
			"the local rollouts of staging serve on 0.0.0.0:8080 (LOCAL_ADDR), every interface of this machine: other machines can reach them; to keep them on this one, use 127.0.0.1:8080",
		}},
		{"one environment on a LAN address", map[string]string{"LOCAL_ADDR_PRODUCTION": "192.168.1.5:9000"}, []string{
			"the local rollouts of production serve on 192.168.1.5:9000 (LOCAL_ADDR_PRODUCTION), an address of this machine's network",
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
