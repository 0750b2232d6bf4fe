//go:build mage

// The magefile is the pipeline's table of contents: each target reads its
// settings from the environment, makes one call into a package under tools/,
// and prints the result. `go tool mage -l` lists the targets.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/check"
	"github.com/andrelair-platform/platform-demo/tools/compile"
	"github.com/andrelair-platform/platform-demo/tools/config"
)

// modules are the workspace modules, as go.work lists them.
var modules = []string{".", "tools", "services/platform-demo"}

// log reports progress on stderr; mage discards the default logger unless -v.
var log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

// Test checks formatting, runs go vet (magefile included) and the race-enabled tests of every module.
func Test(ctx context.Context) error {
	return check.All(ctx, check.Options{
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
