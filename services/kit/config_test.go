package kit

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	defaults := Config{
		Addr:            ":8080",
		LogLevel:        slog.LevelInfo,
		Drain:           5 * time.Second,
		ShutdownTimeout: 10 * time.Second,
	}
	tests := []struct {
		name string
		env  map[string]string
		want Config
	}{
		{name: "defaults", env: nil, want: defaults},
		{
			name: "all set",
			env: map[string]string{
				"PORT": "9090", "LOG_LEVEL": "DEBUG", "SHUTDOWN_DRAIN": "1s", "SHUTDOWN_TIMEOUT": "1m30s",
				"FAULT_ERROR_RATE": "0.25", "FAULT_DELAY": "50ms", "FAULT_CRASH_AFTER": "20s",
			},
			want: Config{
				Addr: ":9090", LogLevel: slog.LevelDebug, Drain: time.Second, ShutdownTimeout: 90 * time.Second,
				Faults: Faults{ErrorRate: 0.25, Delay: 50 * time.Millisecond, CrashAfter: 20 * time.Second},
			},
		},
		{name: "free port", env: map[string]string{"PORT": "0"}, want: with(defaults, func(c *Config) { c.Addr = ":0" })},
		{name: "warn", env: map[string]string{"LOG_LEVEL": "warn"}, want: with(defaults, func(c *Config) { c.LogLevel = slog.LevelWarn })},
		{name: "error", env: map[string]string{"LOG_LEVEL": "error"}, want: with(defaults, func(c *Config) { c.LogLevel = slog.LevelError })},
		{name: "no drain", env: map[string]string{"SHUTDOWN_DRAIN": "0s"}, want: with(defaults, func(c *Config) { c.Drain = 0 })},
		{name: "every request fails", env: map[string]string{"FAULT_ERROR_RATE": "1"}, want: with(defaults, func(c *Config) { c.Faults.ErrorRate = 1 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(getenv(tt.env))
			if err != nil {
				t.Fatalf("LoadConfig(%v) error = %v", tt.env, err)
			}
			if got != tt.want {
				t.Errorf("LoadConfig(%v) = %+v, want %+v", tt.env, got, tt.want)
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
		{name: "error rate above 1", env: map[string]string{"FAULT_ERROR_RATE": "10"}, want: []string{`FAULT_ERROR_RATE="10"`, "from 0 to 1"}},
		{name: "error rate as a percentage", env: map[string]string{"FAULT_ERROR_RATE": "10%"}, want: []string{`FAULT_ERROR_RATE="10%"`, "FAULT_ERROR_RATE=0.1"}},
		{name: "delay without unit", env: map[string]string{"FAULT_DELAY": "100"}, want: []string{`FAULT_DELAY="100"`, "FAULT_DELAY=20s"}},
		{
			name: "every error at once",
			env:  map[string]string{"PORT": "x", "LOG_LEVEL": "loud", "SHUTDOWN_DRAIN": "soon", "SHUTDOWN_TIMEOUT": "later", "FAULT_CRASH_AFTER": "never"},
			want: []string{`PORT="x"`, `LOG_LEVEL="loud"`, `SHUTDOWN_DRAIN="soon"`, `SHUTDOWN_TIMEOUT="later"`, `FAULT_CRASH_AFTER="never"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(getenv(tt.env))
			if err == nil {
				t.Fatalf("LoadConfig(%v) error = nil, want one mentioning %q", tt.env, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadConfig(%v) error = %q, want it to mention %q", tt.env, err, w)
				}
			}
		})
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func with(c Config, f func(*Config)) Config {
	f(&c)
	return c
}
