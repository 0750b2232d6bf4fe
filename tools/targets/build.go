package targets

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/compile"
)

// Build compiles the service into bin/platform-demo, stamped with the
// current commit, as .ko.yaml builds the image.
func Build(ctx context.Context, e Env) error {
	bin, _, err := e.build(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, bin)
	return nil
}

func (e Env) build(ctx context.Context) (string, buildinfo.Info, error) {
	s, info, err := e.load(ctx)
	if err != nil {
		return "", info, err
	}
	bin, err := compile.Binary(ctx, compile.Options{
		Root: e.Root, Config: s.KoConfig, Output: filepath.Join("bin", "platform-demo"), LDFlags: buildinfo.LDFlags(info.Version, info.Commit),
	})
	return bin, info, err
}

// Run builds the service and runs it until Ctrl-C, which stops it and ends
// the target with success.
//
// The service runs in its own process group, so the terminal's SIGINT
// reaches mage, not it; the target then sends it SIGTERM. Its drain exists
// for a load balancer to stop routing first, and there is none here, so
// SHUTDOWN_DRAIN is 0s unless set: mage gives a target five seconds to
// return after Ctrl-C.
func Run(ctx context.Context, e Env) error {
	bin, info, err := e.build(ctx)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	env := slices.Clone(e.Environ)
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "SHUTDOWN_DRAIN=") }) {
		env = append(env, "SHUTDOWN_DRAIN=0s")
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	e.log().Info("running", "binary", bin, "version", info.Version)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := <-exited; err != nil {
			return fmt.Errorf("%s after SIGTERM: %w", bin, err)
		}
		return nil
	}
}
