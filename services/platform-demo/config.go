package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// defaultMessage is the message of / when MESSAGE is unset.
const defaultMessage = "Hello from platform-demo"

// config is the service configuration, read from the environment.
type config struct {
	addr            string
	message         string
	logLevel        slog.Level
	drain           time.Duration
	shutdownTimeout time.Duration
}

// loadConfig reads PORT, MESSAGE, LOG_LEVEL, SHUTDOWN_DRAIN and
// SHUTDOWN_TIMEOUT through getenv. It reports every invalid variable at once,
// each with the expected form.
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{message: defaultMessage}
	var errs []error

	port := "8080"
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("PORT=%q is not a port: use a number from 0 to 65535, e.g. PORT=8080 (0 picks a free port)", p))
		}
		port = p
	}
	cfg.addr = net.JoinHostPort("", port)

	if m := getenv("MESSAGE"); m != "" {
		cfg.message = m
	}

	switch l := getenv("LOG_LEVEL"); strings.ToLower(l) {
	case "", "info":
		cfg.logLevel = slog.LevelInfo
	case "debug":
		cfg.logLevel = slog.LevelDebug
	case "warn":
		cfg.logLevel = slog.LevelWarn
	case "error":
		cfg.logLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q is not a log level: use debug, info, warn or error", l))
	}

	var err error
	if cfg.drain, err = duration(getenv, "SHUTDOWN_DRAIN", 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	if cfg.shutdownTimeout, err = duration(getenv, "SHUTDOWN_TIMEOUT", 10*time.Second); err != nil {
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
		return 0, fmt.Errorf("%s=%q is not a duration: use a non-negative Go duration with a unit, e.g. %s=%s", name, v, name, def)
	}
	return d, nil
}
