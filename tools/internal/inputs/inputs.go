// Package inputs makes the repository files a test depends on, outside its
// own Go package, visible to Go's test cache.
//
// `go test` reuses a passing result when the test binary, the environment
// variables the test read and the files it opened are unchanged. Files are
// tracked only inside the test's own module, and only by size and time, so a
// test in tools/ that reads gitops/ (another module of the workspace) or runs
// a program that reads the service's source would be served stale from the
// cache after those files change.
//
// The gate (`go tool mage test`) closes that hole with content digests: it
// hashes each Set of files named here and passes the digest to `go test` in an
// environment variable. A test declares what it depends on with Need, which
// reads those variables, so Go's cache keys the result on the files'
// content: a change to gitops/ reruns the tests that need Gitops, and an
// unrelated change reruns none of them. Need reads nothing else, neither the
// files nor where the clone is, so a result carries over to another clone of
// the same content (the gate builds with -trimpath for the same reason); the
// gate hashes the sets again after the run, in case a file changed under it.
// Run without the gate (a plain `go test`), Need marks the result as one the
// cache must not keep, so it is never stale either way.
package inputs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Set is a named group of repository files that tests may depend on.
type Set struct {
	// Name is the set's name; its digest travels in EnvPrefix + NAME.
	Name string
	// Paths are files and directories relative to the repository root;
	// directories are taken whole, unless Names is set.
	Paths []string
	// Names, when set, keeps of the files under Paths only those with one
	// of these base names.
	Names []string
}

// The sets of files that tests outside the owning package depend on.
var (
	// Gitops is the gitops repository's template.
	Gitops = Set{Name: "gitops", Paths: []string{"gitops"}}
	// Workflows are the GitHub Actions workflows and the repository's
	// GitHub settings (Dependabot).
	Workflows = Set{Name: "workflows", Paths: []string{".github"}}
	// Build is what decides how the service's image is built: ko's
	// settings and the workspace.
	Build = Set{Name: "build", Paths: []string{".ko.yaml", "go.work", "go.work.sum"}}
	// Services are the services' modules and the service kit.
	Services = Set{Name: "services", Paths: []string{"services"}}
	// ServiceModules are the services' go.mod files and service.yaml
	// overrides alone: what a check of the build settings reads to name
	// each service's package, without depending on every change to their
	// code.
	ServiceModules = Set{Name: "service_modules", Paths: []string{"services"}, Names: []string{"go.mod", "service.yaml"}}
	// Kit is the service kit alone, for the tests that build on it but not
	// on any one service.
	Kit = Set{Name: "kit", Paths: []string{"services/kit"}}
	// Readme is the README, whose settings table the configuration's
	// declarations make.
	Readme = Set{Name: "readme", Paths: []string{"README.md"}}
	// Tooling is the root module, which pins the Go tools the repository
	// runs (mage, actionlint).
	Tooling = Set{Name: "tooling", Paths: []string{"go.mod", "go.sum"}}
	// Targets is what `go tool mage` compiles and runs: the magefile, the
	// root module that pins mage and the tools, the tools module, and the
	// environments every target reads.
	Targets = Set{Name: "targets", Paths: []string{"magefile.go", "go.mod", "go.sum", "go.work", "go.work.sum", "tools", "gitops/environments.yaml"}}
	// Lint is what decides staticcheck's findings: its checks, and the
	// tools module that pins its version.
	Lint = Set{Name: "lint", Paths: []string{"staticcheck.conf", "tools/go.mod", "tools/go.sum"}}
)

// All lists every set, in a fixed order.
var All = []Set{Gitops, Workflows, Build, Services, ServiceModules, Kit, Readme, Tooling, Targets, Lint}

// EnvPrefix starts the name of each variable that carries a set's digest.
const EnvPrefix = "PIPELINE_TEST_INPUT_"

// EnvName is the variable that carries s's digest, e.g.
// PIPELINE_TEST_INPUT_GITOPS.
func (s Set) EnvName() string { return EnvPrefix + strings.ToUpper(s.Name) }

// skipDirs are never part of a set: build output and the local loop's state.
var skipDirs = []string{".git", ".state", "bin"}

// Digest returns the SHA-256 of the files of s under root: each regular
// file's slash path, mode and content, in path order. A missing path counts
// as empty, so that a set whose files do not exist yet still has a digest.
func Digest(root string, s Set) (string, error) {
	h := sha256.New()
	for _, p := range s.Paths {
		base := filepath.Join(root, filepath.FromSlash(p))
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && path == base {
				return nil
			}
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != base && slices.Contains(skipDirs, d.Name()) {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || d.Name() == MarkerFile || len(s.Names) > 0 && !slices.Contains(s.Names, d.Name()) {
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintf(h, "%s %o %d\n", filepath.ToSlash(rel), info.Mode().Perm()&0o111, info.Size())
			_, err = io.Copy(h, f)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("digest of test inputs %q: %w", s.Name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Env returns NAME=digest for every set in All, for the environment of the
// gate's `go test` processes.
func Env(root string) ([]string, error) {
	env := make([]string, 0, len(All))
	for _, s := range All {
		d, err := Digest(root, s)
		if err != nil {
			return nil, err
		}
		env = append(env, s.EnvName()+"="+d)
	}
	return env, nil
}

// Root returns the repository root: the nearest directory above the working
// directory (a test's package directory) that holds go.work.
func Root() (string, error) {
	dir, err := Above("go.work")
	if err != nil {
		return "", fmt.Errorf("%w: run the tests inside the repository", err)
	}
	return dir, nil
}

// Above returns the nearest directory at or above the working directory
// that holds name. It looks with system calls that Go's test cache does not
// see: os.Getwd reads $PWD, and the cache records a variable's value and the
// path of every file looked at inside the module, so a result would then
// hold only for the clone at that path. Where the clone is is no input of
// any test.
func Above(name string) (string, error) {
	dir, err := syscall.Getwd()
	if err != nil {
		return "", err
	}
	for {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(dir, name), &st) == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s above the working directory", name)
		}
		dir = parent
	}
}

// Changed lists the sets whose digest under root is no longer the one in
// env (NAME=digest, as Env returns them): the files changed after Env read
// them.
func Changed(root string, env []string) ([]string, error) {
	var changed []string
	for _, s := range All {
		want := ""
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, s.EnvName()+"="); ok {
				want = v
			}
		}
		got, err := Digest(root, s)
		if err != nil {
			return nil, err
		}
		if got != want {
			changed = append(changed, s.Name)
		}
	}
	return changed, nil
}

// MarkerFile is the file, at the root of a test's module, that inputstest.Need opens
// to keep a result out of the cache. It is git-ignored.
const MarkerFile = ".uncached-test-inputs"
