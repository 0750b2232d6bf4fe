package targets

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/bench"
	"github.com/andrelair-platform/platform-demo/tools/gate"
	"github.com/andrelair-platform/platform-demo/tools/local/podman"
)

// Integration runs the integration tests, the tests named Integration in
// files built with the integration tag: a real distribution registry with
// auth, the image under podman, and the gitops write against a real Gitea
// (built from its Go module once, then cached under the user's cache
// directory). A missing program is an error, not a skip: a skip would pass
// a gate that checked nothing.
func Integration(ctx context.Context, e Env) error {
	if _, err := exec.LookPath("docker-registry"); err != nil {
		return errors.New("integration needs docker-registry: apt-get install docker-registry (.ci/run does)")
	}
	for _, prog := range []string{"git", "gcc"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("integration needs %s (Gitea runs git, and its SQLite driver is built with cgo): apt-get install git gcc libc6-dev (.ci/run does)", prog)
		}
	}
	if _, err := podman.Find("", nil); err != nil {
		return fmt.Errorf("integration needs podman and what it runs with: %w (.ci/run installs them)", err)
	}
	patterns, err := gate.Patterns(e.Root)
	if err != nil {
		return err
	}
	// A first run builds Gitea, minutes on two cores (the other packages
	// wait for that build), longer than go test's default 10 minutes.
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-tags", "integration", "-count=1", "-timeout", "45m", "-run", "Integration"}, patterns...)...)
	cmd.Dir, cmd.Env = e.Root, e.gateOptions().Env
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	return cmd.Run()
}

// Bench measures `go tool mage ci` after a one-line change against its
// floor, and publish, bump, verify and the service against their peers.
// BENCH_PARTS (loop,monorepo,publish,bump,verify,service) selects parts and
// BENCH_RUNS sets the runs of each measure.
func Bench(ctx context.Context, e Env) error {
	opts := bench.Options{Root: e.Root, Out: e.Stderr}
	if parts, ok := e.Lookup("BENCH_PARTS"); ok && parts != "" {
		opts.Parts = strings.Split(parts, ",")
	}
	if runs, ok := e.Lookup("BENCH_RUNS"); ok && runs != "" {
		n, err := strconv.Atoi(runs)
		if err != nil {
			return fmt.Errorf("BENCH_RUNS=%q: want a whole number, at least %d", runs, bench.MinRuns)
		}
		opts.Runs = n
	}
	rep, err := bench.Run(ctx, opts)
	fmt.Fprint(e.Stdout, rep.Text()) // partial results are still measurements
	return err
}
