package rollout

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestStartWaitsForTextFileBusy guards the rollout against a binary still
// open for writing when it starts (in this program: a fork elsewhere that
// inherited the writer's descriptor): start tries again until the writer
// lets go, instead of failing the rollout with "text file busy".
func TestStartWaitsForTextFileBusy(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "true.sh")
	w, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("#!/bin/sh\nexit 0\n"); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(bin).Start(); err == nil {
		t.Skip("this kernel starts a binary open for writing: nothing to guard")
	}
	time.AfterFunc(100*time.Millisecond, func() { w.Close() })
	cmd, err := start(func() *exec.Cmd { return exec.Command(bin) })
	if err != nil {
		t.Fatalf("start() = %v, want it to wait for the writer to close the binary", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the binary exited with %v", err)
	}
}
