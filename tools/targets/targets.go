// Package targets holds the bodies of the mage targets. The magefile is the
// table of contents: each of its targets calls the function of the same
// name here with the surroundings it runs in (Env), and this package reads
// the settings, makes one call into the package that does the work, and
// prints the result.
package targets

import (
	"context"
	"io"
	"log/slog"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/config"
)

// Env is what a target runs with: the process's surroundings, passed in so
// that only the magefile reads the environment.
type Env struct {
	// Root is the repository root.
	Root string
	// Lookup reads an environment variable (os.LookupEnv).
	Lookup func(string) (string, bool)
	// Environ is the whole environment (os.Environ), for the processes a
	// target starts.
	Environ []string
	// Home is the user's home directory, where doctor looks for ~/.netrc.
	Home string
	// Stdout receives results; Stderr progress, logs and the output of the
	// tools a target runs.
	Stdout, Stderr io.Writer
}

// log reports progress on Stderr.
func (e Env) log() *slog.Logger {
	return slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// flag reads a 1/0 setting a target reads directly (TEST_SHORT, ...).
func (e Env) flag(name string) bool {
	v, _ := e.Lookup(name)
	return v == "1" || v == "true"
}

// settings resolves the pipeline's configuration and prints its warnings
// on Stderr.
func (e Env) settings() (config.Settings, error) {
	s, err := e.config()
	for _, w := range s.Warnings {
		e.log().Warn(w)
	}
	return s, err
}

// config resolves the pipeline's configuration, with the warnings the
// whole environment deserves, and prints nothing.
func (e Env) config() (config.Settings, error) {
	s, err := config.Load(e.Lookup, e.Root)
	s.Warnings = append(s.Warnings, s.StrayOverrides(e.Environ)...)
	return s, err
}

// load reads the settings and the build identity of the commit at Root.
func (e Env) load(ctx context.Context) (config.Settings, buildinfo.Info, error) {
	s, err := e.settings()
	if err != nil {
		return s, buildinfo.Info{}, err
	}
	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: e.Root, GitHubSHA: s.GitHubSHA})
	return s, info, err
}

// stateFile is a file in the local loop's state directory.
func stateFile(s config.Settings, name string) string { return filepath.Join(s.StateDir, name) }

// interruptible adds SIGTERM to the signals that end ctx. Mage itself
// cancels the targets' context on SIGINT (Ctrl-C) and gives them five
// seconds to return; a CI runner stops a job with SIGTERM.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGTERM)
}
