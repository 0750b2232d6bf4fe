// Package gitops keeps the local loop's gitops repository: a bare git
// repository in the state directory, seeded from the gitops/ folder of this
// repository, which bumps push to and the local rollout reads, as Argo CD
// reads the real one.
package gitops

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/internal/git"
)

// Options names the repository and its seed.
type Options struct {
	// Dir is the bare repository to create.
	Dir string
	// Seed is the folder whose files make the first commit (gitops/).
	Seed string
	// Branch is the branch to create (main).
	Branch string
	// Author authors the seed commit; the pipeline passes the bump's
	// identity, so that every commit of the local repository has one author.
	Author git.Identity
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
	if err := os.MkdirAll(work, 0o755); err != nil {
		return false, fmt.Errorf("create local gitops repository: %w", err)
	}
	author := opts.Author
	if author.Name == "" {
		author = git.Identity{Name: "local gitops", Email: "local-gitops@localhost"}
	}
	cmd := git.Cmd{Dir: work, Isolated: true, Author: author}
	for _, args := range [][]string{
		{"init", "-q", "-b", opts.Branch},
		{"add", "-A"},
		{"commit", "-q", "-m", "Seed the local gitops repository from gitops/"},
		{"clone", "-q", "--bare", work, bare},
	} {
		if _, err := cmd.Run(ctx, args...); err != nil {
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

// Head returns the commit at the tip of branch: one git process, for the
// followers that only need to know whether the branch moved.
func Head(ctx context.Context, dir, branch string) (string, error) {
	head, err := git.Cmd{Dir: dir, Isolated: true}.Run(ctx, "rev-parse", "--verify", "refs/heads/"+branch)
	if err != nil {
		return "", fmt.Errorf("read branch %s of %s: %w", branch, dir, err)
	}
	return head, nil
}

// Read returns the file at path on branch of the repository at dir, and the
// branch's head commit.
func Read(ctx context.Context, dir, branch, path string) ([]byte, string, error) {
	head, err := Head(ctx, dir, branch)
	if err != nil {
		return nil, "", err
	}
	content, err := git.Cmd{Dir: dir, Isolated: true}.Output(ctx, "show", head+":"+path)
	if err != nil {
		return nil, "", fmt.Errorf("read %s at %s of %s: %w", path, head[:7], dir, err)
	}
	return content, head, nil
}

// Ensure makes sure the repository has the file at path on opts.Branch. A
// repository seeded before its environment was declared lacks that
// environment's folder: Ensure commits the folder from opts.Seed then, and
// reports that it did. A path the seed lacks too is left for the reader to
// report. It reads and writes inside opts.Seed and its own clone only: a
// path that climbs out of the repository is refused, and a symbolic link on
// the way out of either is an error.
func Ensure(ctx context.Context, opts Options, path string) (bool, error) {
	if err := bump.CheckPath(path); err != nil {
		return false, fmt.Errorf("add the folder of %s to the local gitops repository: the path %w", path, err)
	}
	bare := git.Cmd{Dir: opts.Dir, Isolated: true}
	if _, err := bare.Run(ctx, "cat-file", "-e", "refs/heads/"+opts.Branch+":"+path); err == nil {
		return false, nil
	}
	folder := filepath.Dir(filepath.FromSlash(path))
	seed, err := os.OpenRoot(opts.Seed)
	if err != nil {
		return false, fmt.Errorf("add %s to the local gitops repository: %w", folder, err)
	}
	defer seed.Close()
	if _, err := seed.Stat(filepath.FromSlash(path)); err != nil || folder == "." {
		return false, nil
	}
	src, err := fs.Sub(seed.FS(), filepath.ToSlash(folder))
	if err != nil {
		return false, fmt.Errorf("add %s to the local gitops repository: %w", folder, err)
	}
	tmp, err := os.MkdirTemp("", "gitops-ensure-")
	if err != nil {
		return false, fmt.Errorf("add %s to the local gitops repository: %w", folder, err)
	}
	defer os.RemoveAll(tmp)
	author := opts.Author
	if author.Name == "" {
		author = git.Identity{Name: "local gitops", Email: "local-gitops@localhost"}
	}
	work := filepath.Join(tmp, "work")
	if _, err := (git.Cmd{Dir: tmp, Isolated: true}).Run(ctx, "clone", "-q", "-b", opts.Branch, opts.Dir, work); err != nil {
		return false, fmt.Errorf("add %s to the local gitops repository: %w", folder, err)
	}
	if err := copyInto(work, folder, src); err != nil {
		return false, fmt.Errorf("add %s to the local gitops repository: %w", folder, err)
	}
	cmd := git.Cmd{Dir: work, Isolated: true, Author: author}
	for _, args := range [][]string{
		{"add", "-A", "--", folder},
		{"commit", "-q", "-m", "Add " + filepath.ToSlash(folder) + " from gitops/"},
		{"push", "-q", "origin", "HEAD:refs/heads/" + opts.Branch},
	} {
		if _, err := cmd.Run(ctx, args...); err != nil {
			return false, fmt.Errorf("add %s to the local gitops repository: %w", folder, err)
		}
	}
	return true, nil
}

// copyInto copies the files and folders of src into folder of dir, and
// nowhere else: dir is opened as a root, so that a symbolic link in it
// cannot lead a write outside. src holds files and folders only.
func copyInto(dir, folder string, src fs.FS) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := filepath.Join(folder, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return root.MkdirAll(name, 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a file or a folder", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		return root.WriteFile(name, data, 0o644|info.Mode()&0o111)
	})
}
