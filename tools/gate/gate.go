// Package check runs the repository's quality gate: gofmt, go vet (the
// magefile included) and the race-enabled tests of every workspace module.
package gate

import (
	"bytes"
	"context"
	"fmt"
	"go/format"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/internal/git"
)

// Options configures a run of the gate.
type Options struct {
	// Root is the workspace root (the directory holding go.work).
	Root string
	// Modules are the workspace modules, relative to Root.
	Modules []string
	// Short passes -short to go test, skipping the slow end-to-end tests.
	Short bool
	// Run, when set, is passed to go test -run.
	Run string
	// Stdout and Stderr receive the output of go vet and go test.
	Stdout, Stderr io.Writer
}

// All runs gofmt, vet and tests, stopping at the first failing step.
func All(ctx context.Context, opts Options) error {
	if err := Gofmt(ctx, opts.Root); err != nil {
		return err
	}
	if err := Vet(ctx, opts); err != nil {
		return err
	}
	return Test(ctx, opts)
}

// Gofmt reports every tracked or new Go file that gofmt would change.
func Gofmt(ctx context.Context, root string) error {
	out, err := git.Cmd{Dir: root}.Run(ctx, "ls-files", "--cached", "--others", "--exclude-standard", "*.go")
	if err != nil {
		return fmt.Errorf("list go files: %w", err)
	}
	var bad []string
	for _, name := range strings.Fields(out) {
		src, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, still in the index
		}
		if err != nil {
			return fmt.Errorf("gofmt: %w", err)
		}
		formatted, err := format.Source(src)
		if err != nil {
			return fmt.Errorf("gofmt %s: %w", name, err)
		}
		if !bytes.Equal(src, formatted) {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("gofmt: %d files need formatting, run gofmt -w %s", len(bad), strings.Join(bad, " "))
	}
	return nil
}

// Vet runs go vet in every module, and once more with -tags mage at the
// root, because go vet skips the magefile's build tag otherwise.
func Vet(ctx context.Context, opts Options) error {
	for _, m := range opts.Modules {
		if err := goCmd(ctx, opts, m, "vet", "./..."); err != nil {
			return err
		}
	}
	return goCmd(ctx, opts, ".", "vet", "-tags", "mage", ".")
}

// Test runs go test -race in every module.
func Test(ctx context.Context, opts Options) error {
	for _, m := range opts.Modules {
		args := []string{"test", "-race", "-count=1"}
		if opts.Short {
			args = append(args, "-short")
		}
		if opts.Run != "" {
			args = append(args, "-run", opts.Run)
		}
		if err := goCmd(ctx, opts, m, append(args, "./...")...); err != nil {
			return err
		}
	}
	return nil
}

func goCmd(ctx context.Context, opts Options, module string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(opts.Root, module)
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s in %s: %w", strings.Join(args, " "), module, err)
	}
	return nil
}
