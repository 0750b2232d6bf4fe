// Package workflowcheck lints GitHub Actions workflows with actionlint, so a
// broken workflow fails `go tool mage test` on the developer's machine instead
// of on the first push to main.
//
// actionlint runs as the Go tool dependency of the repository's root module
// (`go tool actionlint`), at the version pinned there.
package workflowcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Options configures Lint.
type Options struct {
	// RepoRoot is the directory of the go.mod that lists actionlint as a tool;
	// actionlint runs there and reports paths relative to it.
	RepoRoot string
	// Files are the workflow files to lint, absolute or relative to RepoRoot.
	Files []string
	// Go is the go command to run; empty means "go" from PATH.
	Go string
}

// Problem is one finding of actionlint.
type Problem struct {
	// File is the workflow file, relative to Options.RepoRoot when inside it.
	File string `json:"filepath"`
	// Line and Column locate the finding, 1-based.
	Line   int `json:"line"`
	Column int `json:"column"`
	// Rule is actionlint's name for the check, e.g. "expression" or "action".
	Rule string `json:"kind"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// String formats the problem as actionlint does: "file:line:col: message [rule]".
func (p Problem) String() string {
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column) + ": " + p.Message + " [" + p.Rule + "]"
}

// Lint runs actionlint over opts.Files and returns its findings. The error is
// reserved for failing to run actionlint at all.
func Lint(ctx context.Context, opts Options) ([]Problem, error) {
	if len(opts.Files) == 0 {
		return nil, errors.New("lint workflows: no files given")
	}
	goCmd := opts.Go
	if goCmd == "" {
		goCmd = "go"
	}
	args := append([]string{"tool", "actionlint", "-no-color", "-format", "{{json .}}"}, opts.Files...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = opts.RepoRoot
	// Outside the workspace: in it, tools/ raises go.yaml.in/yaml/v4 to a
	// release whose API actionlint v1.7.12 does not build against; the root
	// module alone pins the version actionlint was released with.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	// actionlint exits 0 when clean and 1 when it found problems; anything
	// else means it could not lint (bad flags, unreadable file, no build).
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("lint workflows %s: go tool actionlint: %w: %s", strings.Join(opts.Files, " "), err, strings.TrimSpace(stderr.String()))
	}
	var found []Problem
	if err := json.Unmarshal(stdout.Bytes(), &found); err != nil {
		return nil, fmt.Errorf("lint workflows %s: read actionlint output: %w", strings.Join(opts.Files, " "), err)
	}
	var problems []Problem
	for _, p := range found {
		if p, ok := newerThanActionlint(opts.RepoRoot, p); ok {
			problems = append(problems, p)
		}
	}
	return problems, nil
}

// queueKey is what actionlint v1.7.12 says of a concurrency group's queue
// key, which GitHub added after its release.
const queueKey = `unexpected key "queue" for "concurrency" section`

// newerThanActionlint reads a finding of the pinned actionlint against the
// syntax GitHub accepts today, and reports whether it stands. GitHub added
// `queue: max` to concurrency groups on 2026-05-07 (changelog "GitHub Actions
// concurrency groups now allow larger queues"): every pending run waits in
// the group, instead of each new one cancelling the one that waited. No
// actionlint the module proxy serves knows the key, so its finding on a line
// that reads exactly `queue: max` is dropped; any other value is a problem
// in its own words.
func newerThanActionlint(root string, p Problem) (Problem, bool) {
	if p.Rule != "syntax-check" || !strings.Contains(p.Message, queueKey) {
		return p, true
	}
	b, err := os.ReadFile(filepath.Join(root, p.File))
	lines := strings.Split(string(b), "\n")
	if err != nil || p.Line < 1 || p.Line > len(lines) {
		return p, true
	}
	if key, value, _ := strings.Cut(strings.TrimSpace(lines[p.Line-1]), ":"); key == "queue" && strings.TrimSpace(value) == "max" {
		return p, false
	}
	p.Message = `concurrency's queue takes one value, max (every pending run waits in the group): write queue: max`
	return p, true
}
