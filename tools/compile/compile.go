// Package compile builds the service binary for this machine, with the
// flags and environment .ko.yaml gives the image's build, so that `mage
// build` runs what `mage publish` ships.
package compile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// Options says what to build and how to stamp it.
type Options struct {
	// Root is the workspace root: it holds .ko.yaml and go.work.
	Root string
	// Config is the build settings file, as publish.Options.Config.
	Config string
	// Main is the main package, relative to Root, as a builds entry names
	// it; empty means the one builds entry there is.
	Main string
	// Output is the path of the binary to write, absolute or relative to Root.
	Output string
	// LDFlags are the linker flags, from buildinfo.LDFlags.
	LDFlags string
}

// Binary runs `go build` with .ko.yaml's flags and environment and
// opts.LDFlags, and returns the absolute path of the binary.
func Binary(ctx context.Context, opts Options) (string, error) {
	b, err := publish.ReadSettings(opts.Root, opts.Config, opts.Main)
	if err != nil {
		return "", err
	}
	out := opts.Output
	if !filepath.IsAbs(out) {
		if out, err = filepath.Abs(filepath.Join(opts.Root, out)); err != nil {
			return "", fmt.Errorf("build %s: %w", b.Package, err)
		}
	}
	args := append([]string{"build"}, b.Flags...)
	args = append(args, "-ldflags", opts.LDFlags, "-o", out, b.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(), b.Env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", b.Package, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
