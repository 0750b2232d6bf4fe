// Package inputstest is the test side of package inputs: a test declares
// the repository files it depends on (Need), or the files of its own module
// a program it runs reads (Track), so that Go's test cache keys its result
// on them. It imports testing, so only tests import it: the tools the mage
// targets link never do.
package inputstest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
)

// Need declares that the calling test depends on the files of sets and
// returns the repository root. With the digests from the gate, the result
// is cached against the files' content, and only that: Need reads the
// variables and no file. Without them, the result is not cached.
func Need(t testing.TB, sets ...inputs.Set) string {
	t.Helper()
	root, err := inputs.Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		// os.Getenv is what Go's test cache records: the digest becomes part
		// of this result's key.
		if os.Getenv(s.EnvName()) == "" {
			uncacheable(t)
			break
		}
	}
	return root
}

// uncacheable keeps Go's test cache from storing this result. The go
// command refuses to cache a result that read a file modified less than two
// seconds before the run ended (cmd/go's modTimeCutoff), so the test opens a
// marker file in its module whose modification time lies in the future.
// Without the gate's digests nothing else could tell the cache that the
// files outside the module changed.
func uncacheable(t testing.TB) {
	t.Helper()
	dir, err := inputs.Above("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, inputs.MarkerFile)
	if err := os.WriteFile(marker, []byte("written by tests run without the gate's input digests; safe to delete\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(24 * time.Hour)
	if err := os.Chtimes(marker, future, future); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(marker)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Track opens each file, and every file below each directory, from the test
// process, so that Go's test cache notices when they change. It is for files
// inside the test's own module that a program the test runs reads (a
// testdata program it builds, fixtures a tool lints): the cache records only
// what the test process itself opens.
func Track(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			return f.Close()
		})
		if err != nil {
			t.Fatalf("track test input %s: %v", p, err)
		}
	}
}
