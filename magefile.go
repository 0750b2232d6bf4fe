//go:build mage

// The magefile is the pipeline's table of contents: each target reads its
// settings from the environment, makes one call into a package under tools/,
// and prints the result. `go tool mage -l` lists the targets.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/bench"
	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/compile"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/doctor"
	"github.com/andrelair-platform/platform-demo/tools/gate"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/pipeline"
)

// modules are the workspace modules with packages; the root module holds
// only the magefile, which gate.Vet covers with -tags mage.
var modules = []string{"tools", "services/platform-demo"}

// log reports progress on stderr; mage discards the default logger unless -v.
var log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

// Test checks formatting, runs go vet (magefile included) and the race-enabled tests of every module.
func Test(ctx context.Context) error {
	return gate.All(ctx, gate.Options{
		Root: root(), Modules: modules, Short: os.Getenv("TEST_SHORT") == "1", Run: os.Getenv("TEST_RUN"),
		Stdout: os.Stdout, Stderr: os.Stderr,
	})
}

// Build compiles the service into bin/platform-demo, stamped with the current commit.
func Build(ctx context.Context) error {
	bin, _, err := build(ctx)
	if err != nil {
		return err
	}
	fmt.Println(bin)
	return nil
}

// Run builds the service and runs it on $PORT (default 8080) until Ctrl-C.
func Run(ctx context.Context) error {
	bin, info, err := build(ctx)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("running", "binary", bin, "version", info.Version)
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		<-ctx.Done()
		_ = cmd.Process.Signal(syscall.SIGTERM) // the service drains, then exits
	}()
	return cmd.Wait()
}

// Publish builds the service image with ko and pushes it to $KO_DOCKER_REPO (default: the embedded registry).
func Publish(ctx context.Context) error {
	s, info, err := load(ctx)
	if err != nil {
		return err
	}
	p := pipeline.New(s, log)
	defer p.Close(ctx)
	res, err := p.Publish(ctx, info)
	if err != nil {
		return err
	}
	fmt.Println(res.Ref)
	return nil
}

// Bump points the gitops manifest at an image ref: mage bump <repo:tag@sha256:...>.
func Bump(ctx context.Context, image string) error {
	s, info, err := load(ctx)
	if err != nil {
		return err
	}
	p := pipeline.New(s, log)
	defer p.Close(ctx)
	if err := p.CheckImage(ctx, image); err != nil {
		return err
	}
	res, err := p.Bump(ctx, image, info)
	if err != nil {
		return err
	}
	fmt.Println(res)
	return nil
}

// Verify polls $VERIFY_URL/version until this commit is live (the local rollout when VERIFY_URL is unset).
func Verify(ctx context.Context) error {
	s, info, err := load(ctx)
	if err != nil {
		return err
	}
	p := pipeline.New(s, log)
	if s.VerifyURL == "" && s.LocalGitops() && !rollout.Serving(ctx, s.LocalAddr) {
		return fmt.Errorf("nothing serves the local rollout on %s: start `go tool mage local` in another terminal, or set VERIFY_URL", s.LocalAddr)
	}
	res, err := p.Verify(ctx, info.Commit)
	if err != nil {
		return err
	}
	fmt.Printf("%s is live at %s (seen after %s, %d polls)\n", info.Commit, p.VerifyURL(), res.Elapsed.Round(time.Millisecond), res.Polls)
	return nil
}

// Local serves the gitops head on the local rollout until Ctrl-C, rolling out each new bump.
func Local(ctx context.Context) error {
	s, err := settings()
	if err != nil {
		return err
	}
	if !s.LocalGitops() {
		return errors.New("mage local rolls out the local gitops repository: unset GITOPS_REPO (a real cluster runs Argo CD instead)")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := pipeline.New(s, log)
	defer p.Close(context.WithoutCancel(ctx))
	return p.Serve(ctx, time.Second, func(url string) {
		fmt.Printf("serving the gitops head at %s (Ctrl-C stops)\n", url)
	})
}

// Doctor checks settings, credentials and services in seconds, and prints each problem with its fix.
func Doctor(ctx context.Context) error {
	s, err := settings()
	home, _ := os.UserHomeDir()
	r := doctor.Run(ctx, doctor.Options{Settings: s, ConfigErr: err, Home: home})
	fmt.Print(r.Text())
	if r.Failed() {
		return errors.New("doctor: fix the rows marked ✗ above")
	}
	return nil
}

// CI takes the current commit live: test, publish, bump, refresh or roll out, verify; then prints a summary.
func CI(ctx context.Context) error {
	s, info, err := load(ctx)
	if err != nil {
		return err
	}
	// A bad token or registry login fails here, in seconds, not after the build.
	home, _ := os.UserHomeDir()
	if r := doctor.Run(ctx, doctor.Options{Settings: s, Home: home, Only: doctor.Preflight}); r.Failed() {
		fmt.Print(r.Text())
		return errors.New("ci: preflight failed: fix the rows marked ✗ above (go tool mage doctor checks everything)")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, runErr := pipeline.Run(ctx, pipeline.Options{
		Settings: s, Build: info, Logger: log,
		Test: func(ctx context.Context) error {
			return gate.All(ctx, gate.Options{Root: root(), Modules: modules, Stdout: os.Stderr, Stderr: os.Stderr})
		},
	})
	fmt.Print(sum.Text())
	jsonPath := filepath.Join(s.StateDir, "ci-summary.json")
	if err := pipeline.WriteSummary(sum, jsonPath, s.StepSummary); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Println("summary:", jsonPath)
	return runErr
}

// Integration runs the integration tests: a real distribution registry with auth, and the image under podman.
func Integration(ctx context.Context) error {
	// The tests skip when a program is missing; here a skip would pass a
	// gate that checked nothing, so a missing program is an error.
	for _, prog := range []string{"docker-registry", "podman", "runc"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("integration needs %s: apt-get install docker-registry podman runc (.ci/run does)", prog)
		}
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-tags", "integration", "-count=1", "-run", "Integration", "./publish/", "./podman/", "./pipeline/")
	cmd.Dir = filepath.Join(root(), "tools")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// Bench measures push→live, publish, bump, verify and the service against their floors and peers (5–8 min).
func Bench(ctx context.Context) error {
	rep, err := bench.Run(ctx, bench.Options{Root: root(), Out: os.Stderr})
	fmt.Print(rep.Text()) // partial results are still measurements
	return err
}

// load reads the settings and the build identity of the current commit.
func load(ctx context.Context) (config.Settings, buildinfo.Info, error) {
	s, err := settings()
	if err != nil {
		return s, buildinfo.Info{}, err
	}
	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root(), GitHubSHA: s.GitHubSHA})
	return s, info, err
}

func build(ctx context.Context) (string, buildinfo.Info, error) {
	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root(), GitHubSHA: os.Getenv("GITHUB_SHA")})
	if err != nil {
		return "", info, err
	}
	bin, err := compile.Binary(ctx, compile.Options{
		Root: root(), Output: filepath.Join("bin", "platform-demo"), LDFlags: buildinfo.LDFlags(info.Version, info.Commit),
	})
	return bin, info, err
}

// settings resolves the pipeline's configuration from the environment.
func settings() (config.Settings, error) {
	return config.Load(os.LookupEnv, root())
}

// root is the repository root; mage runs targets from the magefile's directory.
func root() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd
}
