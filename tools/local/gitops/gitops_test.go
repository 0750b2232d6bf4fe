package gitops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitAndRead(t *testing.T) {
	ctx := context.Background()
	seed := t.TempDir()
	const path = "manifests/platform-demo/00-deployment.yaml"
	want := "# keep this comment\nkind: Deployment\n"
	if err := os.MkdirAll(filepath.Join(seed, filepath.Dir(path)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seed, path), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state", "gitops.git")
	opts := Options{Dir: dir, Seed: seed, Branch: "main"}

	created, err := Init(ctx, opts)
	if err != nil || !created {
		t.Fatalf("Init() = %v, %v; want true, nil", created, err)
	}
	got, head, err := Read(ctx, dir, "main", path)
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	if string(got) != want || len(head) != 40 {
		t.Errorf("Read() = %q at %q, want %q at a full sha", got, head, want)
	}

	// A second Init must keep the repository, and with it every bump since.
	if err := os.WriteFile(filepath.Join(seed, path), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created, err = Init(ctx, opts)
	if err != nil || created {
		t.Fatalf("second Init() = %v, %v; want false, nil", created, err)
	}
	if got, _, _ := Read(ctx, dir, "main", path); string(got) != want {
		t.Errorf("after second Init: %q, want the original %q", got, want)
	}

	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil || len(entries) != 1 {
		t.Errorf("state directory holds %v, want only gitops.git (no leftovers of the build)", entries)
	}

	if _, _, err := Read(ctx, dir, "main", "missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Read(missing) error = %v, want one naming the path", err)
	}
	if _, _, err := Read(ctx, dir, "nope", path); err == nil || !strings.Contains(err.Error(), "branch nope") {
		t.Errorf("Read(branch nope) error = %v, want one naming the branch", err)
	}
}

// TestEnsureStaysInside guards the files beside the local gitops
// repository and its seed: a path that climbs out is refused, and a folder
// of the repository that is a symbolic link to elsewhere is not written
// through.
func TestEnsureStaysInside(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "x", "f.yaml"), "outside\n")
	seed := t.TempDir()
	write(filepath.Join(seed, "manifests", "staging", "00-deployment.yaml"), "kind: Deployment\n")
	opts := Options{Dir: filepath.Join(t.TempDir(), "gitops.git"), Seed: seed, Branch: "main"}
	if _, err := Init(ctx, opts); err != nil {
		t.Fatal(err)
	}
	climb, err := filepath.Rel(seed, filepath.Join(outside, "x", "f.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if added, err := Ensure(ctx, opts, climb); err == nil || added || !strings.Contains(err.Error(), "climbs out") {
		t.Errorf("Ensure(%q) = %v, %v; want the path refused", climb, added, err)
	}

	// The repository's manifests folder becomes a link out of it; the seed
	// then gains an environment's folder the repository lacks.
	work := filepath.Join(t.TempDir(), "work")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(t.TempDir(), "clone", "-q", opts.Dir, work)
	git(work, "rm", "-q", "-r", "manifests")
	if err := os.Symlink(outside, filepath.Join(work, "manifests")); err != nil {
		t.Fatal(err)
	}
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "manifests, elsewhere")
	git(work, "push", "-q", "origin", "main")
	write(filepath.Join(seed, "manifests", "x", "new.yaml"), "from the seed\n")
	if added, err := Ensure(ctx, opts, "manifests/x/new.yaml"); err == nil || added {
		t.Errorf("Ensure through a link out of the repository = %v, %v; want an error", added, err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "x", "f.yaml")); err != nil || string(b) != "outside\n" {
		t.Errorf("the file outside the repository = %q, %v; want it untouched", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(outside, "x")); len(entries) != 1 {
		t.Errorf("the folder outside the repository holds %v, want f.yaml alone", entries)
	}
}
