package gate

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestTimings guards the order of a run: the packages that took longest
// last time first, and only packages that still exist and have tests.
func TestTimings(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.work", "go 1.26\n\nuse (\n\t.\n\t./tools\n\t./svc\n)\n")
	write("go.mod", "module example.com/root\n")
	write("tools/go.mod", "module example.com/root/tools\n")
	write("svc/go.mod", "module example.com/svc\n")
	write("tools/slow/slow_test.go", "package slow\n")
	write("tools/slower/slower_test.go", "package slower\n")
	write("tools/notests/x.go", "package notests\n")
	write("svc/svc_test.go", "package svc\n")

	file := filepath.Join(t.TempDir(), "timings.json")
	tm := readTimings(file)
	if got := tm.first(root); len(got) != 0 {
		t.Errorf("first() with no timings = %v, want none", got)
	}
	err := tm.record(file, []Package{
		{Path: "example.com/root/tools/slow", Status: "ran", Elapsed: 20 * time.Second},
		{Path: "example.com/root/tools/slower", Status: "failed", Elapsed: 40 * time.Second},
		{Path: "example.com/root/tools/notests", Status: "ran", Elapsed: 30 * time.Second},
		{Path: "example.com/root/tools/gone", Status: "ran", Elapsed: 50 * time.Second},
		{Path: "example.com/svc", Status: "ran", Elapsed: 10 * time.Second},
		{Path: "example.com/root/tools/quick", Status: "ran", Elapsed: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"./tools/slower", "./tools/slow", "./svc"}
	if got := readTimings(file).first(root); !slices.Equal(got, want) {
		t.Errorf("first() = %v, want %v", got, want)
	}
	// A cached package keeps its timing; one that ran again gets the new one.
	tm = readTimings(file)
	if err := tm.record(file, []Package{{Path: "example.com/root/tools/slow", Status: "cached"}, {Path: "example.com/svc", Status: "ran", Elapsed: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	want = []string{"./svc", "./tools/slower", "./tools/slow"}
	if got := readTimings(file).first(root); !slices.Equal(got, want) {
		t.Errorf("first() after a second run = %v, want %v", got, want)
	}
}
