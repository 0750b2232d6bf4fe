// Package magetest compiles the repository's magefile into a binary of its
// own, for tests that run the targets as processes.
//
// `go tool mage <target>` writes mage_output_file.go next to the magefile
// and builds it on every run (magefile/mage#247), so two runs that start at
// the same moment in one checkout can break each other's build. The gate
// runs test packages side by side, several of which run targets: each
// compiles the magefile once, one at a time across processes, and then runs
// the compiled binary, which takes the same arguments as `go tool mage`
// (`<binary> ci`, `<binary> rollback -env=production`, `<binary> -l`).
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

// Compile builds the magefile at root into a binary in a temporary
// directory of t and returns its path. Compiles of one checkout, in any
// process, take turns.
func Compile(t testing.TB, root string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(root))
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "platform-demo-mage-"+hex.EncodeToString(sum[:8])+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("lock the magefile's compile: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock the magefile's compile: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	bin := filepath.Join(t.TempDir(), "mage-targets")
	cmd := exec.Command("go", "tool", "mage", "-compile", bin)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s", fmt.Sprintf("go tool mage -compile in %s: %v\n%s", root, err, out))
	}
	return bin
}
