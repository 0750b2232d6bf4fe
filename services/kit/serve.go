package kit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the http.Server. Every endpoint answers from memory, so these
// only bound slow or stuck clients.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	// idleTimeout outlasts the usual 60s keep-alive of proxies in front, so
	// that the proxy, not this server, closes idle connections and never
	// sends a request on a connection this side is closing.
	idleTimeout = 90 * time.Second
)

// Serve serves HTTP on ln until ctx is done, then shuts down without dropping
// requests: /readyz turns 503 at once, requests keep being served for
// Options.Drain so that load balancers stop routing here, and then the
// listener closes and in-flight requests get up to Options.ShutdownTimeout to
// finish. Serve returns nil after a clean shutdown. Call it once per Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("listening", "addr", addr, "version", s.opts.Version, "commit", s.opts.Commit)

	select {
	case err := <-served:
		return fmt.Errorf("serve http on %s: %w", addr, err)
	case <-ctx.Done():
	}

	s.ready.Store(false)
	s.log.Info("draining", "cause", context.Cause(ctx).Error(), "drain", s.opts.Drain.String())
	if s.opts.Drain > 0 {
		drained := time.NewTimer(s.opts.Drain)
		select {
		case <-drained.C:
		case err := <-served:
			drained.Stop()
			return fmt.Errorf("serve http on %s: %w", addr, err)
		}
	}

	s.log.Info("shutting down", "timeout", s.opts.ShutdownTimeout.String())
	shutdownCtx := context.WithoutCancel(ctx)
	if s.opts.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		shutdownCtx, cancel = context.WithTimeout(shutdownCtx, s.opts.ShutdownTimeout)
		defer cancel()
	}
	if err := hs.Shutdown(shutdownCtx); err != nil {
		// Cut the requests that outlived the timeout rather than hang.
		_ = hs.Close()
		return fmt.Errorf("shut down http server on %s: in-flight requests outlived the %s shutdown timeout: %w",
			addr, s.opts.ShutdownTimeout, err)
	}
	<-served // http.ErrServerClosed, the expected end of hs.Serve
	s.log.Info("stopped")
	return nil
}
