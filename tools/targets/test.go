package targets

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/gate"
)

// Test runs the gate: gofmt, go vet, staticcheck and the race-enabled tests
// of every module, rerunning only the tests whose inputs changed. TEST_FULL=1 reruns
// every test, TEST_SHORT=1 skips the slow ones, TEST_RUN selects by name.
func Test(ctx context.Context, e Env) error {
	res, err := gate.Run(ctx, e.gateOptions())
	fmt.Fprintln(e.Stdout, "tests:", res.Summary())
	return err
}

// cacheDir is the user's cache directory (XDG_CACHE_HOME, else
// ~/.cache), where what speeds up the next run is kept across clones.
func (e Env) cacheDir() string {
	if dir, ok := e.Lookup("XDG_CACHE_HOME"); ok && filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(e.Home, ".cache")
}

// gateOptions are the gate's options for this environment: the tests run
// without any of the pipeline's settings and secrets.
func (e Env) gateOptions() gate.Options {
	run, _ := e.Lookup("TEST_RUN")
	return gate.Options{
		Root: e.Root, Short: e.flag("TEST_SHORT"), Run: run, Full: e.flag("TEST_FULL"),
		Env:     gate.Environ(config.Without(e.Environ), config.SecretNames()),
		Timings: filepath.Join(e.cacheDir(), "platform-demo", "gate-timings.json"),
		Events:  filepath.Join(e.cacheDir(), "platform-demo", "gate-test.json"),
		Stdout:  e.Stdout, Stderr: e.Stderr,
	}
}
