// Package stamp finds, for each service, the commit that last changed it:
// the commit its binary is stamped with, its /version answers, and its
// image is tagged with. Two builds of a service at commits that do not
// change it are the same binary and, ko builds being reproducible, the same
// image digest: the pipeline deploys a service only when its stamp differs
// from what an environment runs, and never bumps a digest the environment
// already runs.
//
// A service changes when a file changes that its binary is built from:
//   - a source file (Go, assembly, C, syso…) or an embedded file of any
//     package of the workspace that its main package imports, directly or
//     not, for the platforms it is built for; tests are not part of the
//     binary, and neither are other files in the packages' directories;
//   - the go.mod of any module of the workspace, since a workspace selects
//     one version of each dependency for all its modules at once; the
//     go.sum of the modules its packages are in; go.work and go.work.sum;
//   - the build settings (.ko.yaml).
//
// Each is a git pathspec; a file deleted since is matched as well as one
// that exists, so deleting a source file changes the service too.
package stamp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/andrelair-platform/platform-demo/tools/internal/git"
	"github.com/andrelair-platform/platform-demo/tools/service"
)

// Options says what to stamp.
type Options struct {
	// Root is the repository root, which holds go.work.
	Root string
	// Commit is the commit being built (GITHUB_SHA); empty means HEAD and
	// its work tree.
	Commit string
	// Services are the services to stamp.
	Services []service.Service
	// Platforms are the os/arch pairs the images are built for
	// ("linux/amd64"); empty means linux/amd64.
	Platforms []string
	// BuildSettings are the files, relative to Root, of the build settings
	// every service's image reads (.ko.yaml).
	BuildSettings []string
	// Env is the environment of the go command; nil means the process's.
	Env []string
}

// Stamp is what one service is stamped with.
type Stamp struct {
	// Service is the service's name.
	Service string
	// Commit is the full sha of the newest commit, at or before the one
	// being built, that changed a file the service is built from; with a
	// dirty work tree, HEAD.
	Commit string
	// Version is the short form of Commit, with "-dirty" for uncommitted
	// changes to the service's files.
	Version string
	// Time is Commit's commit time, the image's creation time.
	Time time.Time
	// Dirty reports uncommitted changes to the service's files (untracked
	// source files included).
	Dirty bool
	// Changed names a file of the service that Commit changed (or that is
	// uncommitted), for a person: why the service is at this commit.
	Changed string
	// Pathspecs are the git pathspecs of the service's files.
	Pathspecs []string
}

// Services stamps every service of opts, side by side.
func Services(ctx context.Context, opts Options) (map[string]Stamp, error) {
	if len(opts.Services) == 0 {
		return map[string]Stamp{}, nil
	}
	specs, err := Pathspecs(ctx, opts)
	if err != nil {
		return nil, err
	}
	commit := opts.Commit
	if commit == "" {
		commit = "HEAD"
	}
	out := make(map[string]Stamp, len(specs))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, svc := range opts.Services {
		wg.Go(func() {
			st, err := stampOne(ctx, opts.Root, commit, opts.Commit == "", svc.Name, specs[svc.Name])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("find the commit that last changed %s: %w", svc.Name, err))
				return
			}
			out[svc.Name] = st
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func stampOne(ctx context.Context, root, commit string, worktree bool, name string, specs []string) (Stamp, error) {
	g := git.Cmd{Dir: root}
	st := Stamp{Service: name, Pathspecs: specs}
	args := append([]string{"log", "-1", "--format=%H %ct", "--name-only", commit, "--"}, specs...)
	out, err := g.Run(ctx, args...)
	if err != nil {
		return st, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sha, secs, ok := strings.Cut(lines[0], " ")
	if !ok || len(sha) != 40 {
		return st, fmt.Errorf("no commit changes %s's files (%d pathspecs) up to %s: is the history shallow? fetch it whole (actions/checkout with fetch-depth: 0)", name, len(specs), commit)
	}
	st.Commit = sha
	if n, err := strconv.ParseInt(secs, 10, 64); err == nil {
		st.Time = time.Unix(n, 0).UTC()
	}
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" {
			st.Changed = l
			break
		}
	}
	st.Version = sha[:7]
	if !worktree {
		return st, nil
	}
	status, err := g.Run(ctx, append([]string{"status", "--porcelain", "--untracked-files=all", "--"}, specs...)...)
	if err != nil {
		return st, err
	}
	if status = strings.TrimSpace(status); status != "" {
		head, err := g.Run(ctx, "rev-parse", "HEAD")
		if err != nil {
			return st, err
		}
		st.Commit, st.Version, st.Dirty = head, head[:7]+"-dirty", true
		first, _, _ := strings.Cut(status, "\n")
		st.Changed = strings.TrimSpace(first[min(2, len(first)):]) + " (uncommitted)"
		if out, err := g.Run(ctx, "show", "-s", "--format=%ct", head); err == nil {
			if n, err := strconv.ParseInt(out, 10, 64); err == nil {
				st.Time = time.Unix(n, 0).UTC()
			}
		}
	}
	return st, nil
}

// sourceExts are the extensions of the files go build compiles or links
// into a package (go list's GoFiles, CgoFiles, CFiles, SFiles, SysoFiles…).
var sourceExts = []string{"go", "c", "cc", "cpp", "cxx", "h", "hh", "hpp", "hxx", "m", "s", "S", "sx", "f", "F", "for", "f90", "swig", "swigcxx", "syso"}

// pkg is what go list says of a package.
type pkg struct {
	ImportPath    string
	Dir           string
	Standard      bool
	Deps          []string
	EmbedPatterns []string
	// IgnoredGoFiles and IgnoredOtherFiles are the package's files that
	// build constraints (or cgo being off) leave out on this platform.
	IgnoredGoFiles    []string
	IgnoredOtherFiles []string
	Module            *struct {
		Path  string
		Dir   string
		GoMod string
	}
}

// Pathspecs returns, per service, the git pathspecs of the files it is
// built from, relative to Root.
func Pathspecs(ctx context.Context, opts Options) (map[string][]string, error) {
	platforms := opts.Platforms
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64"}
	}
	// go list reports real paths: compare them with the root's own.
	if real, err := filepath.EvalSymlinks(opts.Root); err == nil {
		opts.Root = real
	}
	shared, err := sharedFiles(opts)
	if err != nil {
		return nil, err
	}
	sets := map[string]map[string]bool{}
	for _, svc := range opts.Services {
		sets[svc.Name] = map[string]bool{}
		for _, f := range shared {
			sets[svc.Name][f] = true
		}
	}
	// ignored counts, per file, the platforms that leave it out: a file
	// left out on every platform is not part of any image.
	ignored := map[string]int{}
	for i, platform := range platforms {
		pkgs, err := list(ctx, opts, platform)
		if err != nil {
			return nil, err
		}
		byPath := map[string]pkg{}
		for _, p := range pkgs {
			byPath[p.ImportPath] = p
			dir, ok := inside(opts.Root, p.Dir)
			if !ok {
				continue
			}
			for _, f := range append(slices.Clone(p.IgnoredGoFiles), p.IgnoredOtherFiles...) {
				if f := path.Join(dir, f); ignored[f] == i {
					ignored[f] = i + 1
				}
			}
		}
		for _, svc := range opts.Services {
			main, ok := byPath[svc.Module]
			if !ok {
				return nil, fmt.Errorf("go list did not report %s, the main package of %s", svc.Module, svc.Dir)
			}
			for _, ip := range append([]string{main.ImportPath}, main.Deps...) {
				p, ok := byPath[ip]
				if !ok || p.Standard || p.Module == nil {
					continue
				}
				dir, ok := inside(opts.Root, p.Dir)
				if !ok {
					continue // a dependency outside the workspace, pinned by go.mod
				}
				for _, spec := range packageSpecs(dir, p.EmbedPatterns) {
					sets[svc.Name][spec] = true
				}

				if modDir, ok := inside(opts.Root, p.Module.Dir); ok {
					sets[svc.Name][path.Join(modDir, "go.sum")] = true
				}
			}
		}
	}
	for f, n := range ignored {
		if n != len(platforms) {
			continue
		}
		for _, set := range sets {
			if set[":(glob)"+path.Join(path.Dir(f), "*"+path.Ext(f))] {
				set[":(exclude)"+f] = true
			}
		}
	}
	out := map[string][]string{}
	for name, set := range sets {
		specs := make([]string, 0, len(set))
		for s := range set {
			specs = append(specs, s)
		}
		slices.Sort(specs)
		out[name] = specs
	}
	return out, nil
}

// packageSpecs are the pathspecs of a package's files in dir (a slash path
// relative to the root): its source files but not its tests, and what it
// embeds.
func packageSpecs(dir string, embeds []string) []string {
	var specs []string
	for _, ext := range sourceExts {
		specs = append(specs, ":(glob)"+path.Join(dir, "*."+ext))
	}
	specs = append(specs, ":(exclude,glob)"+path.Join(dir, "*_test.go"))
	for _, e := range embeds {
		e = strings.TrimPrefix(e, "all:")
		specs = append(specs, ":(glob)"+path.Join(dir, e), ":(glob)"+path.Join(dir, e, "**"))
	}
	return specs
}

// sharedFiles are the files every service is built from: go.work, its
// sum, every workspace module's go.mod, and the build settings.
func sharedFiles(opts Options) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(opts.Root, "go.work"))
	if err != nil {
		return nil, fmt.Errorf("read go.work: %w", err)
	}
	wf, err := modfile.ParseWork("go.work", b, nil)
	if err != nil {
		return nil, fmt.Errorf("parse go.work: %w", err)
	}
	files := []string{"go.work", "go.work.sum"}
	for _, u := range wf.Use {
		files = append(files, path.Join(path.Clean(filepath.ToSlash(u.Path)), "go.mod"))
	}
	for _, f := range opts.BuildSettings {
		files = append(files, filepath.ToSlash(f))
	}
	return files, nil
}

// list runs go list on every service's main package and its dependencies
// for one platform, with cgo off as the images are built.
func list(ctx context.Context, opts Options, platform string) ([]pkg, error) {
	goos, goarch, ok := strings.Cut(platform, "/")
	if !ok {
		return nil, fmt.Errorf("platform %q: want os/arch, such as linux/amd64", platform)
	}
	goarch, _, _ = strings.Cut(goarch, "/") // linux/arm/v7: the variant does not change the files
	args := []string{"list", "-deps", "-json=ImportPath,Dir,Standard,Deps,EmbedPatterns,IgnoredGoFiles,IgnoredOtherFiles,Module"}
	for _, svc := range opts.Services {
		args = append(args, svc.Module)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = opts.Root
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(slices.Clone(env), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list the packages of the services: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var out []pkg
	dec := json.NewDecoder(&stdout)
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("read go list's answer: %w", err)
		}
		out = append(out, p)
	}
}

// inside returns dir relative to root, with slashes, when it is inside it.
func inside(root, dir string) (string, bool) {
	if dir == "" {
		return "", false
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}
