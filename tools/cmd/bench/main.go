// Command bench is what `go tool mage bench` runs: package bench in a
// program of its own. The bench measures the product against stand-ins (a
// GitHub Contents API server, a bare HTTP handler), which the binary of the
// mage targets must not link (tools/policy/depcheck); as its own process it
// costs one `go run`, cached after the first.
//
// It reads BENCH_PARTS (a comma-separated list of parts) and BENCH_RUNS,
// prints the report on standard output and its progress on standard error,
// and works on a copy of the repository it is run in.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/andrelair-platform/platform-demo/tools/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	opts := bench.Options{Root: root, Out: os.Stderr}
	if parts := os.Getenv("BENCH_PARTS"); parts != "" {
		opts.Parts = strings.Split(parts, ",")
	}
	if runs := os.Getenv("BENCH_RUNS"); runs != "" {
		n, err := strconv.Atoi(runs)
		if err != nil {
			return fmt.Errorf("BENCH_RUNS=%q: want a whole number, at least %d", runs, bench.MinRuns)
		}
		opts.Runs = n
	}
	rep, err := bench.Run(ctx, opts)
	if len(rep.Measures) > 0 {
		fmt.Print(rep.Text()) // partial results are still measurements
	}
	return err
}
