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
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/pipeline"
	"github.com/andrelair-platform/platform-demo/tools/service"
	"github.com/andrelair-platform/platform-demo/tools/stamp"
)

// Build compiles every service (or the one named) into bin/<service>,
// stamped with the commit that last changed it, as .ko.yaml builds the
// image.
func Build(ctx context.Context, e Env, svc *string) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	targets, err := s.Targets(s.First().Name, e.arg(svc, ""))
	if err != nil {
		return err
	}
	for _, t := range targets {
		bin, _, err := e.build(ctx, s, t.Service)
		if err != nil {
			return fmt.Errorf("%s: %w", t.Service.Name, err)
		}
		fmt.Fprintln(e.Stdout, bin)
	}
	return nil
}

// build compiles one service, stamped.
func (e Env) build(ctx context.Context, s config.Settings, svc service.Service) (string, stamp.Stamp, error) {
	p := pipeline.New(s, nil)
	defer p.Close(context.WithoutCancel(ctx))
	stamps, err := p.Stamps(ctx, []service.Service{svc})
	if err != nil {
		return "", stamp.Stamp{}, err
	}
	st := stamps[svc.Name]
	bin, err := compile.Binary(ctx, compile.Options{
		Root: e.Root, Config: s.KoConfig, Main: svc.Dir, Output: filepath.Join("bin", svc.Name), LDFlags: buildinfo.LDFlags(st.Version, st.Commit),
	})
	return bin, st, err
}

// Run builds the service and runs it until Ctrl-C, which stops it and ends
// the target with success.
//
// The service runs in its own process group, so the terminal's SIGINT
// reaches mage, not it; the target then sends it SIGTERM. Its drain exists
// for a load balancer to stop routing first, and there is none here, so
// SHUTDOWN_DRAIN is 0s unless set: mage gives a target five seconds to
// return after Ctrl-C.
func Run(ctx context.Context, e Env, svc *string) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	named := e.arg(svc, "")
	if named == "" && len(s.Services) == 1 {
		named = s.Services[0].Name
	}
	if named == "" {
		return fmt.Errorf("name the service to run: go tool mage run -service=<name> (the services are %s)", service.Names(s.Services))
	}
	one, err := service.Find(s.Services, named)
	if err != nil {
		return err
	}
	bin, info, err := e.build(ctx, s, one)
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
