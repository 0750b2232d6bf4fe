// Package magetest compiles the repository's magefile into a binary of its
// own, for tests that run the targets as processes.
//
// `go tool mage <target>` writes mage_output_file.go next to the magefile
// and builds it on every run (magefile/mage#247), so two runs that start at
// the same moment in one checkout can break each other's build. The gate
// runs test packages side by side, several of which run targets: they
// compile the magefile one at a time across processes, and then run the
// compiled binary, which takes the same arguments as `go tool mage`
// (`<binary> ci`, `<binary> rollback -env=production`, `<binary> -l`).
//
// The binary of a checkout has one path, beside the lock, that every test
// process shares: go build links again only when the binary there is not
// the one the sources make (its build ID says), so the tests of one run
// link the magefile's 48 MB binary once, not once per test.
package magetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Compile builds the magefile at root into the checkout's binary and
// returns its path; tests run it and leave it in place. Compiles of one
// checkout, in any process, take turns.
func Compile(t testing.TB, root string) string {
	t.Helper()
	return compile(t, root, "")
}

// CompileCopy builds the magefile at root, a copy of the repository that a
// test made and drops, into a temporary directory of t, and returns the
// binary's path: nothing is left behind when the copy goes.
func CompileCopy(t testing.TB, root string) string {
	t.Helper()
	return compile(t, root, t.TempDir())
}

// compile builds the magefile at root into dir, or into the checkout's
// shared directory when dir is empty.
func compile(t testing.TB, root, dir string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(root))
	name := filepath.Join(os.TempDir(), "platform-demo-mage-"+hex.EncodeToString(sum[:8]))
	lock, err := os.OpenFile(name+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("lock the magefile's compile: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock the magefile's compile: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if dir == "" {
		dir = name
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("a directory for the magefile's binary: %v", err)
		}
	}
	bin := filepath.Join(dir, "mage-targets")
	cmd := exec.Command("go", "tool", "mage", "-compile", bin)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s", fmt.Sprintf("go tool mage -compile in %s: %v\n%s", root, err, out))
	}
	return bin
}
