package inputs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDigest guards what keys the cache: the content and names of a set's
// files, and nothing else (not where the clone is, nor build output).
func TestDigest(t *testing.T) {
	set := Set{Name: "gitops", Paths: []string{"gitops", "missing.yaml"}}
	files := map[string]string{"gitops/a.yaml": "a: 1\n", "gitops/sub/b.yaml": "b: 2\n", "other/c.go": "package c\n"}
	one, two := t.TempDir(), t.TempDir()
	write(t, one, files)
	write(t, two, files)
	d1, err := Digest(one, set)
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := Digest(two, set); d2 != d1 {
		t.Errorf("Digest differs between two clones of the same files: %s, %s", d1, d2)
	}
	steps := []struct {
		name    string
		files   map[string]string
		changed bool
	}{
		{"a file outside the set", map[string]string{"other/c.go": "package c // changed\n"}, false},
		{"the local loop's state", map[string]string{"gitops/.state/x": "state\n"}, false},
		{"a file of the set", map[string]string{"gitops/sub/b.yaml": "b: 3\n"}, true},
		{"a new file of the set", map[string]string{"gitops/c.yaml": "c: 1\n"}, true},
		{"a missing path appearing", map[string]string{"missing.yaml": "x\n"}, true},
	}
	prev := d1
	for _, st := range steps {
		write(t, one, st.files)
		got, err := Digest(one, set)
		if err != nil {
			t.Fatal(err)
		}
		if (got != prev) != st.changed {
			t.Errorf("after changing %s: digest changed = %v, want %v", st.name, got != prev, st.changed)
		}
		prev = got
	}
}

// TestDigestNames guards a set narrowed to some file names: only those
// files change its digest.
func TestDigestNames(t *testing.T) {
	set := Set{Name: "modules", Paths: []string{"services"}, Names: []string{"go.mod"}}
	root := t.TempDir()
	write(t, root, map[string]string{"services/a/go.mod": "module a\n", "services/a/main.go": "package main\n"})
	before, err := Digest(root, set)
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, map[string]string{"services/a/main.go": "package main // changed\n"})
	if got, _ := Digest(root, set); got != before {
		t.Error("a change to main.go changed the digest of a set of go.mod files")
	}
	write(t, root, map[string]string{"services/b/go.mod": "module b\n"})
	if got, _ := Digest(root, set); got == before {
		t.Error("a new go.mod left the digest of a set of go.mod files as it was")
	}
}

func TestEnv(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"gitops/a.yaml": "a\n"})
	env, err := Env(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != len(All) {
		t.Fatalf("Env() = %d variables, want one per set (%d)", len(env), len(All))
	}
	want, _ := Digest(root, Gitops)
	if env[0] != "PIPELINE_TEST_INPUT_GITOPS="+want {
		t.Errorf("Env()[0] = %q, want the gitops digest", env[0])
	}
}

func TestChanged(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"gitops/a.yaml": "a\n", ".github/workflows/ci.yml": "on: push\n"})
	env, err := Env(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Changed(root, env); err != nil || len(got) != 0 {
		t.Fatalf("Changed() before any edit = %v, %v; want none", got, err)
	}
	write(t, root, map[string]string{"gitops/a.yaml": "b\n"})
	if got, err := Changed(root, env); err != nil || !slices.Equal(got, []string{"gitops"}) {
		t.Errorf("Changed() after editing gitops/ = %v, %v; want [gitops]", got, err)
	}
	if got, _ := Changed(root, nil); len(got) != len(All) {
		t.Errorf("Changed() without digests = %v, want every set", got)
	}
}
