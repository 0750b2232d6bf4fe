// Package compile builds the service binary with the same flags the image
// build uses, for running it on the host.
package compile

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// ServicePackage is the service's package, relative to the workspace root.
const ServicePackage = "./services/platform-demo"

// Options says what to build and how to stamp it.
type Options struct {
	// Root is the workspace root (the directory holding go.work).
	Root string
	// Package is the package to build, relative to Root; ServicePackage when empty.
	Package string
	// Output is the path of the binary to write.
	Output string
	// LDFlags are the linker flags, from buildinfo.LDFlags.
	LDFlags string
}

// Binary runs go build -trimpath with opts.LDFlags and returns the absolute
// path of the binary.
func Binary(ctx context.Context, opts Options) (string, error) {
	pkg := opts.Package
	if pkg == "" {
		pkg = ServicePackage
	}
	out, err := filepath.Abs(filepath.Join(opts.Root, opts.Output))
	if filepath.IsAbs(opts.Output) {
		out, err = opts.Output, nil
	}
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", opts.LDFlags, "-o", out, pkg)
	cmd.Dir = opts.Root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
