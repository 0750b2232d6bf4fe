package gate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

// slowFirst is the least a package must have taken last time to be started
// ahead of the others. Two seconds puts the kit's tests and the scaffold's
// (which runs go mod tidy, vet and test on a new service) ahead of the links
// of the services' test binaries when the kit changes, instead of alone at
// the end (on two cores, after a kit change in a copy with five services,
// `go tool mage test` took 13.7 and 14.3 s against 14.9 and 17.9 s at 5 s).
const slowFirst = 2 * time.Second

// timings are how long each package's tests took when they last ran, by
// import path. The gate starts the slowest packages first: go test starts
// packages in the order it is given them, and a long package started last
// runs alone on an otherwise idle machine at the end. On two cores that is
// a first run in a fresh clone about 15% shorter (docs/benchmarks.md). The
// order changes no result.
type timings map[string]time.Duration

// readTimings reads the timings file; a missing or unreadable one is no
// timings.
func readTimings(path string) timings {
	t := timings{}
	if path == "" {
		return t
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return t
	}
	_ = json.Unmarshal(b, &t)
	return t
}

// record adds what ran to t and writes it to path. A package served from
// the cache keeps its old timing.
func (t timings) record(path string, pkgs []Package) error {
	if path == "" {
		return nil
	}
	for _, p := range pkgs {
		if p.Status == "ran" || p.Status == "failed" {
			t[p.Path] = p.Elapsed
		}
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// first lists, slowest first, the packages of the workspace at root that
// took at least slowFirst last time, as ./dir paths go test takes. A
// package that no longer exists, or has no tests, is left out.
func (t timings) first(root string) []string {
	modules := workspaceModules(root)
	type slow struct {
		dir string
		d   time.Duration
	}
	var out []slow
	for path, d := range t {
		if d < slowFirst {
			continue
		}
		// The package's module is the longest module path it starts with.
		mod, dir := "", ""
		for m, d := range modules {
			rest, ok := strings.CutPrefix(path, m)
			if ok && (rest == "" || strings.HasPrefix(rest, "/")) && len(m) > len(mod) {
				mod, dir = m, d
			}
		}
		if mod == "" {
			continue
		}
		pkg := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(path, mod)))
		if tests, _ := filepath.Glob(filepath.Join(root, pkg, "*_test.go")); len(tests) > 0 {
			out = append(out, slow{"./" + filepath.ToSlash(pkg), d})
		}
	}
	slices.SortFunc(out, func(a, b slow) int { return int(b.d - a.d) })
	dirs := make([]string, len(out))
	for i, s := range out {
		dirs[i] = s.dir
	}
	return dirs
}

// workspaceModules maps the module path of each module of go.work to its
// directory.
func workspaceModules(root string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return out
	}
	wf, err := modfile.ParseWork("go.work", b, nil)
	if err != nil {
		return out
	}
	for _, u := range wf.Use {
		dir := filepath.Clean(u.Path)
		gm, err := os.ReadFile(filepath.Join(root, dir, "go.mod"))
		if err != nil {
			continue
		}
		if mod := modfile.ModulePath(gm); mod != "" {
			out[mod] = dir
		}
	}
	return out
}
