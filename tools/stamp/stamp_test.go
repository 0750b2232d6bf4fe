package stamp_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/service"
	"github.com/andrelair-platform/platform-demo/tools/stamp"
)

// repo is a git repository holding a workspace of two services on a shared
// library module, the shape of this repository.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.write("go.work", "go 1.26\n\nuse (\n\t./services/a\n\t./services/b\n\t./services/lib\n\t./tools\n)\n")
	r.write(".ko.yaml", "defaultPlatforms: [linux/amd64]\n")
	r.write("README.md", "# repo\n")
	for _, m := range []string{"a", "b"} {
		r.write("services/"+m+"/go.mod", "module example.com/services/"+m+"\n\ngo 1.26\n\nrequire example.com/services/lib v0.0.0\n\nreplace example.com/services/lib => ../lib\n")
		r.write("services/"+m+"/main.go", "package main\n\nimport \"example.com/services/lib\"\n\nfunc main() { lib.Hello() }\n")
		r.write("services/"+m+"/main_test.go", "package main\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n")
		r.write("services/"+m+"/README.md", "# "+m+"\n")
	}
	r.write("services/b/static/index.html", "<p>b</p>\n")
	r.write("services/b/embed.go", "package main\n\nimport _ \"embed\"\n\n//go:embed static\nvar _ string\n")
	r.write("services/lib/go.mod", "module example.com/services/lib\n\ngo 1.26\n")
	r.write("services/lib/lib.go", "package lib\n\nfunc Hello() {}\n")
	r.write("services/lib/lib_linux.go", "package lib\n")
	r.write("tools/go.mod", "module example.com/tools\n\ngo 1.26\n")
	r.write("tools/tool.go", "package tools\n")
	r.commit("first")
	return r
}

func (r *repo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) commit(msg string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func (r *repo) stamps() map[string]stamp.Stamp {
	r.t.Helper()
	svcs, err := service.List(r.dir)
	if err != nil {
		r.t.Fatalf("service.List: %v", err)
	}
	st, err := stamp.Services(context.Background(), stamp.Options{Root: r.dir, Services: svcs, BuildSettings: []string{".ko.yaml"}})
	if err != nil {
		r.t.Fatalf("stamp.Services: %v", err)
	}
	return st
}

// TestServices guards the decision the pipeline deploys on: each change
// moves the stamp of exactly the services whose binary it changes.
func TestServices(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list and git")
	}
	r := newRepo(t)
	first := r.git("rev-parse", "HEAD")
	steps := []struct {
		name  string
		edit  func()
		moved []string // the services whose stamp is the new commit
	}{
		{name: "a's code", edit: func() {
			r.write("services/a/main.go", "package main\n\nimport \"example.com/services/lib\"\n\nfunc main() { lib.Hello(); lib.Hello() }\n")
		}, moved: []string{"a"}},
		{name: "docs only", edit: func() { r.write("README.md", "# repo, again\n"); r.write("services/a/README.md", "# a, again\n") }},
		{name: "a test", edit: func() {
			r.write("services/b/main_test.go", "package main\n\nimport \"testing\"\n\nfunc TestY(t *testing.T) {}\n")
		}},
		{name: "tools code", edit: func() { r.write("tools/tool.go", "package tools\n\nvar X = 1\n") }},
		{name: "shared library", edit: func() { r.write("services/lib/lib.go", "package lib\n\nfunc Hello() { println() }\n") }, moved: []string{"a", "b"}},
		{name: "a file for another platform", edit: func() { r.write("services/lib/lib_windows.go", "package lib\n") }},
		{name: "embedded file", edit: func() { r.write("services/b/static/index.html", "<p>b2</p>\n") }, moved: []string{"b"}},
		{name: "deleted file", edit: func() { os.Remove(filepath.Join(r.dir, "services/lib/lib_linux.go")) }, moved: []string{"a", "b"}},
		{name: "a workspace module's requirements", edit: func() {
			r.write("tools/go.mod", "module example.com/tools\n\ngo 1.26\n\n// a requirement changes here\n")
		}, moved: []string{"a", "b"}},
		{name: "build settings", edit: func() { r.write(".ko.yaml", "defaultPlatforms: [linux/amd64, linux/arm64]\n") }, moved: []string{"a", "b"}},
	}
	prev := map[string]string{"a": first, "b": first}
	for _, step := range steps {
		step.edit()
		head := r.commit(step.name)
		got := r.stamps()
		for _, name := range []string{"a", "b"} {
			want := prev[name]
			for _, m := range step.moved {
				if m == name {
					want = head
				}
			}
			if got[name].Commit != want {
				t.Errorf("after %s: stamp of %s = %.7s, want %.7s (changed file %q)", step.name, name, got[name].Commit, want, got[name].Changed)
			}
			if got[name].Dirty {
				t.Errorf("after %s: %s is dirty in a clean work tree", step.name, name)
			}
			prev[name] = got[name].Commit
		}
	}
}

// TestServicesDirty guards uncommitted work: a modified or untracked source
// file marks the service dirty at HEAD, and only that service.
func TestServicesDirty(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list and git")
	}
	r := newRepo(t)
	head := r.git("rev-parse", "HEAD")
	r.write("services/a/extra.go", "package main\n")
	got := r.stamps()
	if a := got["a"]; !a.Dirty || a.Version != head[:7]+"-dirty" || !strings.Contains(a.Changed, "services/a/extra.go") {
		t.Errorf("stamp of a with an untracked source file = %+v, want dirty at %.7s naming the file", a, head)
	}
	if b := got["b"]; b.Dirty || b.Commit != head {
		t.Errorf("stamp of b = %+v, want clean at %.7s", b, head)
	}
}

// TestServicesShallow guards the message of a history too short to say:
// the shallow clone of a CI checkout.
func TestServicesShallow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list and git")
	}
	r := newRepo(t)
	r.write("README.md", "# two\n")
	r.commit("docs")
	clone := t.TempDir()
	out, err := exec.Command("git", "clone", "-q", "--depth=1", "file://"+r.dir, clone).CombinedOutput()
	if err != nil {
		t.Fatalf("git clone --depth=1: %v\n%s", err, out)
	}
	svcs, err := service.List(clone)
	if err != nil {
		t.Fatal(err)
	}
	st, err := stamp.Services(context.Background(), stamp.Options{Root: clone, Services: svcs})
	// A shallow clone's one commit holds every file, so it is every
	// service's last change: the stamp cannot be older than the history.
	if err != nil {
		t.Fatalf("stamp.Services in a shallow clone: %v", err)
	}
	head := strings.TrimSpace(run(t, clone, "git", "rev-parse", "HEAD"))
	if st["a"].Commit != head {
		t.Errorf("stamp of a in a shallow clone = %.7s, want its only commit %.7s", st["a"].Commit, head)
	}
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
