package gitopscheck

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

// repoTree is the gitops tree this repository ships and the local loop seeds
// its gitops repository from.
func repoTree(t *testing.T) string {
	t.Helper()
	return filepath.Join(inputstest.Need(t, inputs.Gitops), "gitops")
}

// TestDirRepositoryTree guards the shipped manifests: anything this package
// rejects would fail to sync, or fail at run time, in the cluster.
func TestDirRepositoryTree(t *testing.T) {
	problems, err := Dir(context.Background(), repoTree(t))
	if err != nil {
		t.Fatalf("Dir(gitops) error: %v", err)
	}
	for _, p := range problems {
		t.Errorf("Dir(gitops): %s", p)
	}
}

// TestDirChecksRepositoryDeployment guards against the repository tree
// passing vacuously (a walk that finds nothing, or a Deployment decoded but
// never checked): one weakened field in the real manifest must be caught.
func TestDirChecksRepositoryDeployment(t *testing.T) {
	dir := copyTree(t, repoTree(t))
	file := filepath.Join(dir, "manifests", "platform-demo", "00-deployment.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const from, to = "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"
	if strings.Count(string(data), from) != 1 {
		t.Fatalf("%s: want exactly one %q to weaken", file, from)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, err := Dir(context.Background(), dir)
	if err != nil {
		t.Fatalf("Dir error: %v", err)
	}
	// The weakened staging Deployment breaks the policy, and no longer
	// matches production's.
	var policy, drift int
	for _, p := range problems {
		switch {
		case p.File == "manifests/platform-demo/00-deployment.yaml" && strings.Contains(p.Message, "allowPrivilegeEscalation is not false"):
			policy++
		case p.File == "manifests/platform-demo-production/00-deployment.yaml" && strings.Contains(p.Message, "differs from staging's"):
			drift++
		}
	}
	if len(problems) != 2 || policy != 1 || drift != 1 {
		t.Fatalf("Dir after setting %q = %v, want the allowPrivilegeEscalation problem in staging and production drifting from it", to, problems)
	}
}

// TestEnvironments guards the environments file and the promise that an
// environment is the one before it but for namespace, host, replicas and
// image: each mistake is caught with its place.
func TestEnvironments(t *testing.T) {
	tests := []struct {
		name   string
		change func(dir string)
		want   []string
	}{
		{"the repository's", func(string) {}, nil},
		{"production's replicas and host may differ", func(dir string) {
			edit(t, dir, "manifests/platform-demo-production/00-deployment.yaml", "replicas: 2", "replicas: 3")
		}, nil},
		{"production's probe drifts", func(dir string) {
			edit(t, dir, "manifests/platform-demo-production/00-deployment.yaml", "periodSeconds: 10", "periodSeconds: 11")
		}, []string{"manifests/platform-demo-production/00-deployment.yaml:", "differs from staging's"}},
		{"production lacks the Service", func(dir string) {
			os.Remove(filepath.Join(dir, "manifests/platform-demo-production/01-service.yaml"))
			edit(t, dir, "manifests/platform-demo-production/kustomization.yaml", "  - 01-service.yaml\n", "")
		}, []string{"environment production has no Service/platform-demo"}},
		{"a path that does not exist", func(dir string) {
			edit(t, dir, "environments.yaml", "manifests/{service}-production/00-deployment.yaml", "manifests/prod-{service}/00-deployment.yaml")
		}, []string{"service platform-demo in production: path manifests/prod-platform-demo/00-deployment.yaml does not exist"}},
		{"an Application that deploys another directory", func(dir string) {
			edit(t, dir, "environments.yaml", `argocdApp: "{service}-production"`, `argocdApp: "{service}"`)
		}, []string{"Application platform-demo does not deploy manifests/platform-demo-production"}},
		{"another namespace than the environment's", func(dir string) {
			edit(t, dir, "environments.yaml", "namespace: gitops-demo-production", "namespace: production")
		}, []string{`service platform-demo in production: namespace "gitops-demo-production", but environments.yaml declares "production"`, `deploys to namespace "gitops-demo-production", not the environment's "production"`}},
		{"no service at the first path", func(dir string) {
			edit(t, dir, "environments.yaml", "manifests/{service}/00-deployment.yaml", "apps/{service}/deploy.yaml")
		}, []string{"no service has a manifest at the first environment's path (apps/{service}/deploy.yaml)"}},
		{"an unknown field", func(dir string) {
			edit(t, dir, "environments.yaml", `    argocdApp: "{service}-production"`, `    argocdApplication: "{service}-production"`)
		}, []string{"environments.yaml:", "field argocdApplication not found"}},
		{"a name twice", func(dir string) {
			edit(t, dir, "environments.yaml", "name: production", "name: staging")
		}, []string{"environments.yaml:", "declared twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyTree(t, repoTree(t))
			tt.change(dir)
			problems, all := check(t, dir)
			if len(tt.want) == 0 && len(problems) > 0 {
				t.Fatalf("Dir() = %s, want no problems", all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("Dir() = %s\nwant a problem containing %q", all, w)
				}
			}
		})
	}
}

// edit replaces from with to, once, in the file at rel below dir.
func edit(t *testing.T, dir, rel, from, to string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		t.Fatalf("%s has no %q", rel, from)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDirFixtures(t *testing.T) {
	type want struct {
		file     string
		line     int
		contains string
	}
	tests := []struct {
		name string
		want []want
	}{
		{name: "valid"},
		{name: "misspelled-field", want: []want{
			{"deployment.yaml", 56, `Deployment demo/web: unknown field "readinessProbee" for apps/v1 Deployment`},
		}},
		// The Service selects the Deployment that failed to decode: one
		// problem, not a second one claiming the Service selects nothing.
		{name: "misspelled-field-with-service", want: []want{
			{"deployment.yaml", 56, `unknown field "readinessProbee"`},
		}},
		{name: "wrong-type", want: []want{
			{"deployment.yaml", 12, "does not decode as apps/v1 Deployment"},
		}},
		{name: "missing-probe", want: []want{
			{"deployment.yaml", 40, `container "web": no livenessProbe: add an httpGet probe on /healthz`},
		}},
		{name: "wrong-probe-path", want: []want{
			{"deployment.yaml", 58, `readinessProbe.httpGet.path is "/ready", want "/readyz"`},
		}},
		{name: "run-as-root", want: []want{
			{"deployment.yaml", 67, `container "web": securityContext.runAsNonRoot is not true`},
		}},
		{name: "short-grace-period", want: []want{
			{"deployment.yaml", 32, "terminationGracePeriodSeconds is 5, want more than 15 (SHUTDOWN_DRAIN 5s + SHUTDOWN_TIMEOUT 10s"},
		}},
		{name: "no-pull-secret", want: []want{
			{"deployment.yaml", 29, `imagePullSecrets does not name "ghcr-pull"`},
		}},
		{name: "max-unavailable", want: []want{
			{"deployment.yaml", 21, "maxUnavailable is 25%, want 0"},
		}},
		{name: "duplicate-key", want: []want{
			{"deployment.yaml", 13, `duplicate key "replicas" (first at line 12)`},
		}},
		{name: "unknown-kind", want: []want{
			{"statefulset.yaml", 2, "unknown kind apps/v1 StatefulSet"},
		}},
		{name: "secret-with-data", want: []want{
			{"secret.yaml", 13, "Secret demo/ghcr-pull: carries data: secrets never live in git"},
		}},
		{name: "secret-with-stringdata", want: []want{
			{"secret.yaml", 11, "Secret demo/token: carries stringData"},
		}},
		{name: "not-yaml", want: []want{
			{"broken.yaml", 6, "not valid YAML"},
		}},
		{name: "not-an-object", want: []want{
			{"values.yaml", 1, "not a Kubernetes object: no apiVersion and kind"},
		}},
		{name: "broken-references", want: []want{
			{"app/ingress.yaml", 21, `Ingress demo/web: backend port https is not a port of Service "web"`},
			{"app/kustomization.yaml", 4, "ingress.yaml is beside kustomization.yaml but not in its resources"},
			{"app/kustomization.yaml", 7, `resource "configmap.yaml" does not exist`},
			{"app/service.yaml", 11, "selector app.kubernetes.io/name=wbe matches the pod template of no Deployment"},
		}},
		{name: "manual-sync", want: []want{
			{"argocd/app.yaml", 18, `spec.source.path "manifests/web" is not a directory`},
			{"argocd/app.yaml", 22, "spec.syncPolicy.automated is not set"},
		}},
		{name: "homer-bad-url", want: []want{
			{"homer/config.yml", 5, `tile "web": url "web.example.test" is not an absolute http(s) URL`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join("testdata", tt.name)
			got, err := Dir(context.Background(), dir)
			if err != nil {
				t.Fatalf("Dir(%q) error: %v", dir, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Dir(%q) = %d problems, want %d:\n%s", dir, len(got), len(tt.want), list(got))
			}
			for i, w := range tt.want {
				p := got[i]
				if p.File != w.file || p.Line != w.line || !strings.Contains(p.String(), w.contains) {
					t.Errorf("Dir(%q)[%d] = %q, want %s:%d containing %q", dir, i, p, w.file, w.line, w.contains)
				}
			}
		})
	}
}

func TestDirErrors(t *testing.T) {
	if _, err := Dir(context.Background(), filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dir(missing directory) error = %v, want fs.ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dir(ctx, repoTree(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Dir(canceled context) error = %v, want context.Canceled", err)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"full", Problem{File: "a/b.yaml", Line: 3, Object: "Deployment ns/x", Message: "m"}, "a/b.yaml:3: Deployment ns/x: m"},
		{"no line, no object", Problem{File: "a/b.yaml", Message: "m"}, "a/b.yaml: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
			}
		})
	}
}

// check runs Dir on dir and returns the problems, and their text one a line.
func check(t *testing.T, dir string) ([]Problem, string) {
	t.Helper()
	problems, err := Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, p := range problems {
		text = append(text, p.String())
	}
	return problems, strings.Join(text, "\n")
}

func list(problems []Problem) string {
	var b strings.Builder
	for _, p := range problems {
		b.WriteString("\t" + p.String() + "\n")
	}
	return b.String()
}

// copyTree copies the regular files of src into a new temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}
