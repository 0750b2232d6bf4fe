// Command platform-demo is the demo service of the platform: it reports which
// build runs where, answers probes, exposes Prometheus metrics, and drains
// gracefully on SIGTERM.
//
// Build metadata is injected at link time:
//
//	go build -ldflags "-s -w -X main.version=1a2b3c4 -X main.commit=<full sha>"
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/andrelair-platform/platform-demo/services/platform-demo/internal/server"
)

// version and commit are set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stderr); err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("platform-demo failed", "error", err.Error())
		os.Exit(1)
	}
}

// run reads the configuration, then serves until SIGTERM or SIGINT and a
// graceful shutdown.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// Listen for signals before anything else, so that a SIGTERM during
	// startup drains instead of killing the process.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Once draining, a second signal ends the process at once.
	context.AfterFunc(ctx, stop)

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	info, _ := debug.ReadBuildInfo()
	v, c := buildVersion(version, commit, info)
	hostname, err := os.Hostname()
	if err != nil {
		logger.Warn("read hostname", "error", err.Error())
		hostname = "unknown"
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set PORT to a free port)", cfg.addr, err)
	}
	srv := server.New(server.Options{
		Version:         v,
		Commit:          c,
		Started:         time.Now(),
		Hostname:        hostname,
		Message:         cfg.message,
		Drain:           cfg.drain,
		ShutdownTimeout: cfg.shutdownTimeout,
		Logger:          logger,
	})
	return srv.Serve(ctx, ln)
}
