package kit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Routes registers a service's own endpoints on s. getenv reads the
// service's own settings; an error stops the service before it listens.
type Routes func(s *Server, getenv func(string) string) error

// Main runs the service name until SIGTERM or SIGINT, then drains it, and
// exits the process: 0 after a clean shutdown, 1 on any error, which it
// logs as JSON on stderr.
func Main(name string, routes Routes) {
	if err := Run(context.Background(), name, os.Getenv, os.Stderr, routes); err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error(name+" failed", "error", err.Error())
		os.Exit(1)
	}
}

// Run is Main without the exit: it reads the configuration (LoadConfig),
// lets routes register the service's endpoints, listens on PORT and serves
// until ctx ends or a SIGTERM or SIGINT arrives, with a graceful shutdown.
// Logs are JSON lines on stderr.
func Run(ctx context.Context, name string, getenv func(string) string, stderr io.Writer, routes Routes) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	// Listen for signals before anything else, so that a SIGTERM during
	// startup drains instead of killing the process.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Once draining, a second signal ends the process at once.
	context.AfterFunc(ctx, stop)

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	v, c := Build()
	s := New(Options{
		Name: name, Version: v, Commit: c, Started: time.Now(),
		Drain: cfg.Drain, ShutdownTimeout: cfg.ShutdownTimeout, Faults: cfg.Faults,
		Logger: logger,
	})
	if routes != nil {
		if err := routes(s, getenv); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set PORT to a free port)", cfg.Addr, err)
	}
	if cfg.Faults.CrashAfter > 0 {
		crash := time.AfterFunc(cfg.Faults.CrashAfter, func() {
			logger.Error("crashing on purpose", "after", cfg.Faults.CrashAfter.String(), "cause", "FAULT_CRASH_AFTER")
			os.Exit(1)
		})
		defer crash.Stop()
	}
	return s.Serve(ctx, ln)
}
