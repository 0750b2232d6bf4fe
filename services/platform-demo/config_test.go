package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	defaults := config{
		addr:            ":8080",
		message:         defaultMessage,
		logLevel:        slog.LevelInfo,
		drain:           5 * time.Second,
		shutdownTimeout: 10 * time.Second,
	}
	tests := []struct {
		name string
		env  map[string]string
		want config
	}{
		{name: "defaults", env: nil, want: defaults},
		{
			name: "all set",
			env: map[string]string{
				"PORT": "9090", "MESSAGE": "hi", "LOG_LEVEL": "DEBUG",
				"SHUTDOWN_DRAIN": "1s", "SHUTDOWN_TIMEOUT": "1m30s",
			},
			want: config{addr: ":9090", message: "hi", logLevel: slog.LevelDebug, drain: time.Second, shutdownTimeout: 90 * time.Second},
		},
		{name: "free port", env: map[string]string{"PORT": "0"}, want: with(defaults, func(c *config) { c.addr = ":0" })},
		{name: "warn", env: map[string]string{"LOG_LEVEL": "warn"}, want: with(defaults, func(c *config) { c.logLevel = slog.LevelWarn })},
		{name: "error", env: map[string]string{"LOG_LEVEL": "error"}, want: with(defaults, func(c *config) { c.logLevel = slog.LevelError })},
		{name: "no drain", env: map[string]string{"SHUTDOWN_DRAIN": "0s"}, want: with(defaults, func(c *config) { c.drain = 0 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(getenv(tt.env))
			if err != nil {
				t.Fatalf("loadConfig(%v) error = %v", tt.env, err)
			}
			if got != tt.want {
				t.Errorf("loadConfig(%v) = %+v, want %+v", tt.env, got, tt.want)
			}
		})
	}
}

// TestLoadConfigErrors guards the messages a user sees on a typo: each names
// the variable, its value and a valid example.
func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "port not a number", env: map[string]string{"PORT": "http"}, want: []string{`PORT="http"`, "PORT=8080"}},
		{name: "port too big", env: map[string]string{"PORT": "70000"}, want: []string{`PORT="70000"`}},
		{name: "negative port", env: map[string]string{"PORT": "-1"}, want: []string{`PORT="-1"`}},
		{name: "log level", env: map[string]string{"LOG_LEVEL": "verbose"}, want: []string{`LOG_LEVEL="verbose"`, "debug, info, warn or error"}},
		{name: "drain without unit", env: map[string]string{"SHUTDOWN_DRAIN": "5"}, want: []string{`SHUTDOWN_DRAIN="5"`, "SHUTDOWN_DRAIN=5s"}},
		{name: "negative timeout", env: map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, want: []string{`SHUTDOWN_TIMEOUT="-1s"`, "SHUTDOWN_TIMEOUT=10s"}},
		{
			name: "every error at once",
			env:  map[string]string{"PORT": "x", "LOG_LEVEL": "loud", "SHUTDOWN_DRAIN": "soon", "SHUTDOWN_TIMEOUT": "later"},
			want: []string{`PORT="x"`, `LOG_LEVEL="loud"`, `SHUTDOWN_DRAIN="soon"`, `SHUTDOWN_TIMEOUT="later"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(getenv(tt.env))
			if err == nil {
				t.Fatalf("loadConfig(%v) error = nil, want one mentioning %q", tt.env, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("loadConfig(%v) error = %q, want it to mention %q", tt.env, err, w)
				}
			}
		})
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func with(c config, f func(*config)) config {
	f(&c)
	return c
}
