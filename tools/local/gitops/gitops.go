// Package localgitops keeps the local loop's gitops repository: a bare git
// repository in the state directory, seeded from the gitops/ folder of this
// repository, which bumps push to and the local rollout reads, as Argo CD
// reads the real one.
package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Options names the repository and its seed.
type Options struct {
	// Dir is the bare repository to create.
	Dir string
	// Seed is the folder whose files make the first commit (gitops/).
	Seed string
	// Branch is the branch to create (main).
	Branch string
}

// Init creates the bare repository with one commit of opts.Seed, unless it
// exists. It reports whether it created it. A half-made repository from an
// interrupted run is never left behind: the repository is built beside its
// final path and renamed into place.
func Init(ctx context.Context, opts Options) (bool, error) {
	if _, err := os.Stat(filepath.Join(opts.Dir, "HEAD")); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(opts.Dir), 0o755); err != nil {
		return false, fmt.Errorf("create state directory: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(opts.Dir), ".gitops-init-")
	if err != nil {
		return false, fmt.Errorf("create local gitops repository: %w", err)
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "work")
	bare := filepath.Join(tmp, "bare.git")
	if err := os.CopyFS(work, os.DirFS(opts.Seed)); err != nil {
		return false, fmt.Errorf("copy %s into the local gitops repository: %w", opts.Seed, err)
	}
	steps := [][]string{
		{"-C", work, "init", "-q", "-b", opts.Branch},
		{"-C", work, "add", "-A"},
		{"-C", work, "-c", "user.name=platform-demo-bot", "-c", "user.email=platform-demo-bot@users.noreply.github.com",
			"commit", "-q", "-m", "Seed the local gitops repository from gitops/"},
		{"clone", "-q", "--bare", work, bare},
	}
	for _, args := range steps {
		if _, err := Git(ctx, "", args...); err != nil {
			return false, fmt.Errorf("create local gitops repository: %w", err)
		}
	}
	if err := os.Rename(bare, opts.Dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(opts.Dir, "HEAD")); statErr == nil {
			return false, nil // another process made it first
		}
		return false, fmt.Errorf("create local gitops repository: %w", err)
	}
	return true, nil
}

// Read returns the file at path on branch of the repository at dir, and the
// branch's head commit.
func Read(ctx context.Context, dir, branch, path string) ([]byte, string, error) {
	head, err := Git(ctx, dir, "rev-parse", "--verify", "refs/heads/"+branch)
	if err != nil {
		return nil, "", fmt.Errorf("read branch %s of %s: %w", branch, dir, err)
	}
	head = strings.TrimSpace(head)
	content, err := Git(ctx, dir, "show", head+":"+path)
	if err != nil {
		return nil, "", fmt.Errorf("read %s at %s of %s: %w", path, head[:7], dir, err)
	}
	return []byte(content), head, nil
}

// Git runs git with a clean configuration (no system or global config, so a
// user's commit signing or hooks cannot break the seed commit; no prompts)
// and returns its standard output.
func Git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", fmt.Errorf("git %s: %s", args[len(args)-1], strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("git: %w", err)
	}
	return stdout.String(), nil
}
