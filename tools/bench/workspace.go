package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/internal/git"
)

// edit is a one-line change the bench makes, again and again, to a copy of
// the repository: the line of file that line matches becomes replace(tag),
// where tag names the change and the bench run. Each change is new content:
// Go's test cache holds results for content wherever it was tested, so a
// change the same as one of an earlier bench run would be served from it.
type edit struct {
	file    string
	line    *regexp.Regexp
	replace func(tag string) string
}

// serviceEdit changes the default message of the service's /: every test and
// build of the service must see it, and nothing else depends on it.
var serviceEdit = edit{
	file: "services/platform-demo/config.go",
	line: regexp.MustCompile(`(?m)^const defaultMessage = .*$`),
	replace: func(tag string) string {
		return fmt.Sprintf("const defaultMessage = \"Hello from platform-demo (bench change %s)\"", tag)
	},
}

// toolsEdit changes one message of verify, a package the pipeline, doctor
// and the targets build on: a change a developer of the tools makes.
var toolsEdit = edit{
	file: "tools/verify/verify.go",
	line: regexp.MustCompile(`(?m)^\tconst next = "check the rollout.*$`),
	replace: func(tag string) string {
		return fmt.Sprintf("\tconst next = \"check the rollout (did the gitops bump land, did Argo CD sync, does the new pod start?) or raise VERIFY_TIMEOUT (bench change %s)\"", tag)
	},
}

// kitEdit changes a message of the service kit, which every service's
// main imports: a change to every service at once.
var kitEdit = edit{
	file: "services/kit/serve.go",
	line: regexp.MustCompile(`(?m)^\t\treturn fmt\.Errorf\("shut down http server on %s.*$`),
	replace: func(tag string) string {
		return fmt.Sprintf("\t\treturn fmt.Errorf(\"shut down http server on %%s (bench change %s): in-flight requests outlived the %%s shutdown timeout: %%w\",", tag)
	},
}

// docsEdit changes a heading of the documentation: a commit that changes
// no service.
var docsEdit = edit{
	file: "docs/architecture.md",
	line: regexp.MustCompile(`\A# .*`),
	replace: func(tag string) string {
		return fmt.Sprintf("# Architecture: from push to live, and after (bench change %s)", tag)
	},
}

// workspace is a git repository holding a copy of the product's files, where
// the bench commits one-line changes without touching the original.
type workspace struct {
	dir string
	n   int
	// run tells this bench run's changes from another's.
	run string
}

// newWorkspace copies the files git knows in root (tracked, and untracked but
// not ignored: `git ls-files -co --exclude-standard`) to dir and commits them
// in a fresh repository there.
func newWorkspace(ctx context.Context, root, dir string) (*workspace, error) {
	out, err := git.Cmd{Dir: root}.Run(ctx, "ls-files", "-z", "-co", "--exclude-standard")
	if err != nil {
		return nil, fmt.Errorf("list the files of %s: %w (is it a git work tree?)", root, err)
	}
	for _, rel := range strings.Split(strings.TrimRight(out, "\x00"), "\x00") {
		if rel == "" {
			continue
		}
		if err := copyFile(filepath.Join(root, rel), filepath.Join(dir, rel)); err != nil {
			return nil, err
		}
	}
	for _, e := range []edit{serviceEdit, toolsEdit, kitEdit, docsEdit} {
		b, err := os.ReadFile(filepath.Join(dir, e.file))
		if err != nil || !e.line.Match(b) {
			return nil, fmt.Errorf("copy of %s: %s has no line matching %q, which the bench's one-line change edits: update it in tools/bench/workspace.go", root, e.file, e.line)
		}
	}
	run := make([]byte, 4)
	rand.Read(run)
	w := &workspace{dir: dir, run: hex.EncodeToString(run)}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"commit", "-q", "-m", "bench: copy of the work tree"},
	} {
		if _, err := runGit(ctx, dir, args...); err != nil {
			return nil, fmt.Errorf("set up the bench repository: %w", err)
		}
	}
	return w, nil
}

// change makes and commits the next one-line change to the service.
func (w *workspace) change(ctx context.Context) error { return w.apply(ctx, serviceEdit) }

// apply makes and commits the next one-line change of e.
func (w *workspace) apply(ctx context.Context, e edit) error {
	w.n++
	path := filepath.Join(w.dir, e.file)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("change %s: %w", e.file, err)
	}
	if !e.line.Match(b) {
		return fmt.Errorf("change %s: no line matching %q; update tools/bench/workspace.go", e.file, e.line)
	}
	b = e.line.ReplaceAll(b, []byte(e.replace(fmt.Sprintf("%d of run %s", w.n, w.run))))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("change %s: %w", e.file, err)
	}
	if _, err := runGit(ctx, w.dir, "commit", "-q", "-a", "-m", fmt.Sprintf("bench change %d", w.n)); err != nil {
		return fmt.Errorf("commit the change to %s: %w", e.file, err)
	}
	return nil
}

// runGit runs git in the bench's copy, whose commits are independent of
// the user's git configuration: a fixed identity, no signing, no hooks.
func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := git.Cmd{Dir: dir, Isolated: true, Author: git.Identity{Name: "bench", Email: "bench@localhost"}}.Output(ctx, args...)
	return string(out), err
}

// copyFile copies src to dst, keeping symbolic links as links and the
// executable bit. A file git lists but the work tree lacks (deleted, not yet
// staged) is skipped, as a clone would not have it either.
func copyFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		return os.Symlink(target, dst)
	case !fi.Mode().IsRegular():
		// Submodules and sockets have no content to copy.
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
