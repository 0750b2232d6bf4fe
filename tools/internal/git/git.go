// Package git runs the git command, in one of two ways.
//
// On the source repository (reading HEAD, the work tree's status, commit
// ancestry, the files to format) git runs as the user would run it, with
// their configuration: a CI checkout may rely on it, for safe.directory
// among others. On the repositories the pipeline writes (the gitops
// repository, the local loop's, the bench's copies) git runs Isolated: no
// system or global configuration, no credential helper, no hooks, no commit
// signing, a fixed identity, so that nothing on the machine can change or
// leak what a bump commits. Git never prompts in either way.
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Identity is the author and committer of the commits git makes.
type Identity struct {
	Name  string
	Email string
}

// Cmd says where and how to run git.
type Cmd struct {
	// Dir is the directory git runs in.
	Dir string
	// Isolated ignores the ambient configuration (see the package comment).
	Isolated bool
	// Author, when set, authors and commits the commits made.
	Author Identity
	// Env is added to git's environment, after everything else: an
	// authorization header through GIT_CONFIG_COUNT, for example.
	Env []string
	// Secret, when set, is removed from error messages.
	Secret string
}

// Error is a git command that exited with an error.
type Error struct {
	// Args are the git arguments, without the -c settings Cmd adds.
	Args []string
	// Output is what git wrote to standard error, then standard output,
	// trimmed and with Cmd.Secret removed.
	Output string
	// ExitCode is git's exit status, or -1 when it did not run.
	ExitCode int
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("git %s: %v", e.Args[0], e.Err)
	}
	return fmt.Sprintf("git %s: %s", e.Args[0], firstLine(e.Output))
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs git with args and returns its standard output, trimmed.
func (c Cmd) Run(ctx context.Context, args ...string) (string, error) {
	out, err := c.Output(ctx, args...)
	return strings.TrimSpace(string(out)), err
}

// Output runs git with args and returns its standard output as is (the
// content of a file from `git show`, for example).
func (c Cmd) Output(ctx context.Context, args ...string) ([]byte, error) {
	full := args
	if c.Isolated {
		full = append([]string{"-c", "credential.helper=", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "core.hooksPath=" + os.DevNull}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = c.Dir
	cmd.Env = c.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return stdout.Bytes(), ctx.Err()
	}
	code := -1
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	out := strings.TrimSpace(stderr.String() + "\n" + stdout.String())
	if c.Secret != "" {
		out = strings.ReplaceAll(out, c.Secret, "***")
	}
	return stdout.Bytes(), &Error{Args: args, Output: out, ExitCode: code, Err: err}
}

// env is the environment git runs with.
func (c Cmd) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "LC_ALL",
			// Isolated: none of the user's git settings apply.
			c.Isolated && (strings.HasPrefix(k, "GIT_") || k == "SSH_ASKPASS"),
			// Either way, variables that point git at another repository
			// (set by a hook that runs us, say) never apply to a command
			// that names its own directory.
			slices.Contains(redirects, k):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never", "LC_ALL=C")
	if c.Isolated {
		env = append(env,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL="+os.DevNull,
			"GIT_SSH_COMMAND=ssh -o BatchMode=yes",
		)
	}
	if c.Author.Name != "" {
		env = append(env,
			"GIT_AUTHOR_NAME="+c.Author.Name, "GIT_AUTHOR_EMAIL="+c.Author.Email,
			"GIT_COMMITTER_NAME="+c.Author.Name, "GIT_COMMITTER_EMAIL="+c.Author.Email,
		)
	}
	return append(env, c.Env...)
}

// redirects are the variables that make git work on another repository.
var redirects = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
