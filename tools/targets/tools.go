package targets

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/andrelair-platform/platform-demo/tools/gate"
	"github.com/andrelair-platform/platform-demo/tools/local/podman"
)

// Integration runs the integration tests, the tests named Integration in
// files built with the integration tag: a real distribution registry with
// auth, the image under podman, and the gitops write against a real Gitea
// (built from its Go module once, then cached under the user's cache
// directory). A missing program is an error, not a skip: a skip would pass
// a gate that checked nothing.
func Integration(ctx context.Context, e Env) error {
	if _, err := exec.LookPath("docker-registry"); err != nil {
		return errors.New("integration needs docker-registry: apt-get install docker-registry (.ci/run does)")
	}
	for _, prog := range []string{"git", "gcc"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("integration needs %s (Gitea runs git, and its SQLite driver is built with cgo): apt-get install git gcc libc6-dev (.ci/run does)", prog)
		}
	}
	if _, err := podman.Find("", nil); err != nil {
		return fmt.Errorf("integration needs podman and what it runs with: %w (.ci/run installs them)", err)
	}
	patterns, err := gate.Patterns(e.Root)
	if err != nil {
		return err
	}
	// A first run builds Gitea, minutes on two cores (the other packages
	// wait for that build), longer than go test's default 10 minutes.
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-tags", "integration", "-count=1", "-timeout", "45m", "-run", "Integration"}, patterns...)...)
	cmd.Dir, cmd.Env = e.Root, e.gateOptions().Env
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	return cmd.Run()
}

// Bench measures `go tool mage ci` after a one-line change against its
// floor, and publish, bump, verify and the service against their peers.
// BENCH_PARTS (loop,monorepo,soak,publish,bump,verify,service) selects
// parts and BENCH_RUNS sets the runs of each measure. The bench is a
// program of its own (tools/cmd/bench), so that the stand-ins it measures
// against are no part of the targets' binary; an interrupt reaches it as
// SIGINT, and it stops its runs and prints what it measured.
func Bench(ctx context.Context, e Env) error {
	cmd := exec.Command("go", "run", "./tools/cmd/bench")
	cmd.Dir, cmd.Env = e.Root, e.Environ
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go run ./tools/cmd/bench: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return benchErr(err)
	case <-ctx.Done():
		// go run and the bench it started are one process group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		return benchErr(<-done)
	}
}

// benchErr is the bench's failure; it printed its own error already.
func benchErr(err error) error {
	if err != nil {
		return fmt.Errorf("the bench failed (its error is above): %w", err)
	}
	return nil
}
