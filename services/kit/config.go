package kit

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is what every service reads from its environment: where to listen,
// how much to log, how to shut down, and the fault switches.
type Config struct {
	// Addr is where to listen: ":" + PORT (default 8080).
	Addr string
	// LogLevel is LOG_LEVEL: debug, info (default), warn or error.
	LogLevel slog.Level
	// Drain is SHUTDOWN_DRAIN (default 5s): see Options.Drain.
	Drain time.Duration
	// ShutdownTimeout is SHUTDOWN_TIMEOUT (default 10s): see
	// Options.ShutdownTimeout.
	ShutdownTimeout time.Duration
	// Faults are FAULT_ERROR_RATE, FAULT_DELAY and FAULT_CRASH_AFTER, all
	// off by default.
	Faults Faults
}

// LoadConfig reads PORT, LOG_LEVEL, SHUTDOWN_DRAIN, SHUTDOWN_TIMEOUT and the
// FAULT_* switches through getenv. It reports every invalid variable at
// once, each with the expected form.
func LoadConfig(getenv func(string) string) (Config, error) {
	var cfg Config
	var errs []error

	port := "8080"
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("PORT=%q is not a port: use a number from 0 to 65535, e.g. PORT=8080 (0 picks a free one)", p))
		}
		port = p
	}
	cfg.Addr = net.JoinHostPort("", port)

	switch l := getenv("LOG_LEVEL"); strings.ToLower(l) {
	case "", "info":
		cfg.LogLevel = slog.LevelInfo
	case "debug":
		cfg.LogLevel = slog.LevelDebug
	case "warn":
		cfg.LogLevel = slog.LevelWarn
	case "error":
		cfg.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q is not a log level: use debug, info, warn or error", l))
	}

	var err error
	if cfg.Drain, err = duration(getenv, "SHUTDOWN_DRAIN", 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	if cfg.ShutdownTimeout, err = duration(getenv, "SHUTDOWN_TIMEOUT", 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	if v := getenv("FAULT_ERROR_RATE"); v != "" {
		rate, err := strconv.ParseFloat(v, 64)
		if err != nil || rate < 0 || rate > 1 {
			errs = append(errs, fmt.Errorf("FAULT_ERROR_RATE=%q is not a share: use a number from 0 to 1, e.g. FAULT_ERROR_RATE=0.1 (one request in ten answers 500)", v))
		}
		cfg.Faults.ErrorRate = rate
	}
	if cfg.Faults.Delay, err = duration(getenv, "FAULT_DELAY", 0); err != nil {
		errs = append(errs, err)
	}
	if cfg.Faults.CrashAfter, err = duration(getenv, "FAULT_CRASH_AFTER", 0); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// duration reads the non-negative duration in the variable name, or def when
// it is unset.
func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		example := def
		if example == 0 {
			example = 20 * time.Second
		}
		return 0, fmt.Errorf("%s=%q is not a duration: use a non-negative Go duration with a unit, e.g. %s=%s", name, v, name, example)
	}
	return d, nil
}
