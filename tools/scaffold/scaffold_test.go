package scaffold_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/policy/gitopscheck"
	"github.com/andrelair-platform/platform-demo/tools/scaffold"
	"github.com/andrelair-platform/platform-demo/tools/service"
)

// newName is the service the tests make: a name no service of the
// repository has.
const newName = "made-by-test"

// environments are the repository's, as tools/config resolves them for a
// service named name.
func environments(name string) []scaffold.Environment {
	return []scaffold.Environment{
		{Name: "staging", Manifest: "manifests/" + name + "/00-deployment.yaml", Namespace: "gitops-demo", Host: name + ".10.0.0.200.nip.io", App: name, Branch: "main"},
		{Name: "production", Manifest: "manifests/" + name + "-production/00-deployment.yaml", Namespace: "gitops-demo-production", Host: name + "-production.10.0.0.200.nip.io", App: name + "-production", Branch: "main"},
	}
}

// copyRepo copies what a scaffold reads and writes of the repository (the
// workspace file, the service kit, the gitops template) to a temporary
// root, with a stand-in for platform-demo: the scaffold reads no service's
// code, only which services exist, so a change to a service's code does not
// run these tests again.
func copyRepo(t *testing.T) string {
	t.Helper()
	src := inputstest.Need(t, inputs.Gitops, inputs.Kit, inputs.Build)
	dst := t.TempDir()
	for _, p := range []string{"go.work", "services/kit", "gitops"} {
		if err := os.CopyFS(filepath.Join(dst, p), os.DirFS(filepath.Join(src, p))); err != nil {
			if err2 := copyFile(filepath.Join(src, p), filepath.Join(dst, p)); err2 != nil {
				t.Fatalf("copy %s: %v", p, err)
			}
		}
	}
	demo := filepath.Join(dst, "services", "platform-demo")
	if err := os.MkdirAll(demo, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"go.mod":  "module github.com/andrelair-platform/platform-demo/services/platform-demo\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(demo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// tree digests every file under root, to tell whether anything changed.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestService guards `mage new`: the new service is found by convention,
// its gitops files pass every check of the template, and its module builds
// and passes its own tests.
func TestService(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod tidy and go test on the new service")
	}
	root := copyRepo(t)
	// Offline, as a machine with the module cache filled and no network:
	// no proxy, and a checksum database that cannot answer (its own name,
	// so no tile cached for sum.golang.org answers for it either; a loopback
	// address, so nothing leaves the machine). The kit's checksums are all
	// the new module needs.
	_, vkey, err := note.GenerateKey(rand.Reader, "sumdb.test.invalid")
	if err != nil {
		t.Fatal(err)
	}
	offline := append(os.Environ(), "GOPROXY=off", "GOSUMDB="+vkey+" http://127.0.0.1:1")
	res, err := scaffold.Service(context.Background(), scaffold.Options{Root: root, Name: newName, Environments: environments(newName), LocalSlot: 7, Env: offline})
	if err != nil {
		t.Fatalf("Service(made-by-test) = %v", err)
	}
	for _, want := range []string{
		"services/made-by-test/main.go", "services/made-by-test/main_test.go", "services/made-by-test/go.mod", "services/made-by-test/go.sum", "services/made-by-test/README.md", "services/made-by-test/service.yaml",
		"gitops/manifests/made-by-test/00-deployment.yaml", "gitops/manifests/made-by-test-production/02-ingress.yaml",
		"gitops/argocd/made-by-test.yaml", "gitops/argocd/made-by-test-production.yaml",
	} {
		if !contains(res.Created, want) {
			t.Errorf("Service(made-by-test) created %v, want %s among them", res.Created, want)
		}
	}
	if !contains(res.Edited, "go.work") || !contains(res.Edited, "gitops/homer/config.yml") {
		t.Errorf("Service(made-by-test) edited %v, want go.work and the Homer tile", res.Edited)
	}

	svcs, err := service.List(root)
	if err != nil {
		t.Fatalf("service.List after Service: %v", err)
	}
	if svc, err := service.Find(svcs, newName); err != nil {
		t.Errorf("the new service is not found by convention: %v", err)
	} else if svc.Overrides.LocalSlot == nil || *svc.Overrides.LocalSlot != 7 {
		t.Errorf("the new service's local slot = %v, want the 7 it was given", svc.Overrides.LocalSlot)
	}
	problems, err := gitopscheck.Dir(context.Background(), filepath.Join(root, "gitops"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("gitopscheck: %s", p)
	}
	homer, _ := os.ReadFile(filepath.Join(root, "gitops", "homer", "config.yml"))
	if !strings.Contains(string(homer), "- name: made-by-test\n") || !strings.Contains(string(homer), "url: http://made-by-test.10.0.0.200.nip.io/") || !strings.Contains(string(homer), "- name: platform-demo\n") {
		t.Errorf("Homer config after Service(made-by-test):\n%s\nwant the made-by-test tile beside platform-demo's", homer)
	}

	work, _ := os.ReadFile(filepath.Join(root, "go.work"))
	if !strings.Contains(string(work), "./services/made-by-test\n") || !strings.Contains(string(work), "./services/platform-demo\n") {
		t.Errorf("go.work after Service(made-by-test):\n%s\nwant it to use ./services/made-by-test too", work)
	}
	// The module is tidy, and it builds and passes its tests on its own
	// (the copy holds no more of the workspace). go vet and go test build
	// as the gate's go vet and the mage binary do (no -trimpath, cgo as
	// the machine has it), so that the kit's dependencies compiled for
	// those serve here too.
	for _, args := range [][]string{{"mod", "tidy", "-diff"}, {"vet", "."}, {"test", "-count=1", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join(root, "services", newName)
		cmd.Env = append(slices.Clone(offline), "GOWORK=off")
		if args[0] == "mod" {
			cmd.Env = append(cmd.Env, "GOFLAGS=-mod=mod")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s in the new service: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestServiceRefused guards the promise of `mage new`: a name it cannot
// take gets an error that says why, and nothing is written.
func TestServiceRefused(t *testing.T) {
	root := copyRepo(t)
	before := tree(t, root)
	tests := []struct {
		name string
		want string
	}{
		{name: "Hello", want: "not a DNS label"},
		{name: "made-by-test_world", want: "not a DNS label"},
		{name: "9lives", want: "not a DNS label"},
		{name: "made-by-test-", want: "not a DNS label"},
		{name: "", want: "not a DNS label"},
		{name: "../escape", want: "not a DNS label"},
		{name: strings.Repeat("a", 41), want: "at most 40"},
		{name: "kit", want: "reserved"},
		{name: "platform-demo", want: "exists already"},
		{name: "platform-demo-production", want: "-production"},
		{name: "api-production", want: "-production"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scaffold.Service(context.Background(), scaffold.Options{Root: root, Name: tt.name, Environments: environments(tt.name)})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing was written") {
				t.Fatalf("Service(%q) = %v, want an error saying %q and that nothing was written", tt.name, err, tt.want)
			}
			assertUnchanged(t, root, before)
		})
	}
}

// TestServiceUndone guards a failure half-way: go mod tidy cannot reach
// the kit's dependencies, and what was written is taken back.
func TestServiceUndone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod tidy")
	}
	root := copyRepo(t)
	before := tree(t, root)
	env := append(os.Environ(), "GOPROXY=off", "GOMODCACHE="+t.TempDir(), "GOFLAGS=-mod=mod")
	_, err := scaffold.Service(context.Background(), scaffold.Options{Root: root, Name: newName, Environments: environments(newName), Env: env})
	if err == nil || !strings.Contains(err.Error(), "go mod tidy") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("Service with no module cache = %v, want the go mod tidy failure and nothing written", err)
	}
	assertUnchanged(t, root, before)
}

func assertUnchanged(t *testing.T, root string, before map[string]string) {
	t.Helper()
	after := tree(t, root)
	var diff []string
	for p, h := range after {
		if before[p] != h {
			diff = append(diff, "changed or added "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diff = append(diff, "removed "+p)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("the repository changed: %v", diff)
	}
	// No directory is left behind either.
	if _, err := os.Stat(filepath.Join(root, "services", newName)); err == nil {
		t.Errorf("services/made-by-test is left behind")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
