package gitops

import (
	"context"
	"os"
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
