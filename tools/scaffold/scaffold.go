// Package scaffold writes a new service into the repository: its module on
// the service kit, with a main and its tests, added to go.work; its
// manifests in every environment's folder of the gitops template; an Argo
// CD Application per environment; and its tile on the Homer dashboard. The
// build settings (.ko.yaml) and the pipeline need no edit: a service is
// found by convention (tools/service).
//
// Service writes everything or nothing: a bad or taken name, or any failure
// on the way, leaves the repository as it was.
package scaffold

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"

	"github.com/andrelair-platform/platform-demo/tools/service"
)

//go:embed template
var templates embed.FS

// Environment is where the new service goes live in one environment.
type Environment struct {
	// Name names the environment.
	Name string
	// Manifest is the Deployment the bump edits, relative to gitops/; the
	// service's other manifests go in its directory.
	Manifest string
	// Namespace is the environment's Kubernetes namespace.
	Namespace string
	// Host is the Ingress host; empty writes no Ingress.
	Host string
	// App is the Argo CD Application's name; empty writes none.
	App string
	// Branch is the gitops branch the Application follows.
	Branch string
}

// Options says what service to write where.
type Options struct {
	// Root is the repository root.
	Root string
	// Name is the new service's name.
	Name string
	// Environments are the environments, in order; the first is the one
	// `mage ci` deploys.
	Environments []Environment
	// LocalSlot is where the local loop serves the service
	// (config.Settings.NextSlot): its service.yaml pins it.
	LocalSlot int
	// Env is the environment of the go command (go mod tidy); nil means
	// the process's.
	Env []string
}

// Result says what Service wrote.
type Result struct {
	// Created are the files written, relative to the root, in order.
	Created []string
	// Edited are the existing files changed: go.work, the Homer tile.
	Edited []string
}

// ModulePrefix is the module path every service's module path starts with.
const ModulePrefix = "github.com/andrelair-platform/platform-demo/services/"

// Service writes the service opts.Name, or nothing.
func Service(ctx context.Context, opts Options) (Result, error) {
	if err := service.CheckName(opts.Name); err != nil {
		return Result{}, fmt.Errorf("%w; nothing was written", err)
	}
	existing, err := service.List(opts.Root)
	if err != nil {
		return Result{}, fmt.Errorf("%w; nothing was written", err)
	}
	if err := checkFree(opts, existing); err != nil {
		return Result{}, fmt.Errorf("%w; nothing was written", err)
	}
	files, err := render(opts)
	if err != nil {
		return Result{}, fmt.Errorf("%w; nothing was written", err)
	}
	edits, err := edits(opts)
	if err != nil {
		return Result{}, fmt.Errorf("%w; nothing was written", err)
	}
	w := &writer{root: opts.Root}
	if err := w.write(ctx, opts, files, edits); err != nil {
		if uerr := w.undo(); uerr != nil {
			return Result{}, fmt.Errorf("%w; undoing what was written failed too: %v", err, uerr)
		}
		return Result{}, fmt.Errorf("%w; nothing was written", err)
	}
	return Result{Created: w.created, Edited: w.edited}, nil
}

// checkFree refuses a name that is taken: by a service, by a directory of
// services/, or by any file the service would get (another service's
// manifests of a later environment: "api-production"), and a name that
// reads as another name in a later environment.
func checkFree(opts Options, existing []service.Service) error {
	for _, s := range existing {
		if s.Name == opts.Name {
			return fmt.Errorf("service %q exists already (%s)", opts.Name, s.Dir)
		}
	}
	dir := filepath.Join(opts.Root, service.Dir, opts.Name)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s/%s exists already: pick another name, or remove it", service.Dir, opts.Name)
	}
	for _, e := range opts.Environments[1:] {
		if strings.HasSuffix(opts.Name, "-"+e.Name) {
			return fmt.Errorf("service name %q ends in -%s, the suffix of the %s environment's folders and Applications: pick another name", opts.Name, e.Name, e.Name)
		}
	}
	for _, e := range opts.Environments {
		mdir := filepath.Join(opts.Root, "gitops", filepath.FromSlash(path.Dir(e.Manifest)))
		if _, err := os.Stat(mdir); err == nil {
			return fmt.Errorf("gitops/%s exists already: the name %q is taken in the %s environment", path.Dir(e.Manifest), opts.Name, e.Name)
		}
		if e.App != "" {
			if _, err := os.Stat(filepath.Join(opts.Root, "gitops", "argocd", e.App+".yaml")); err == nil {
				return fmt.Errorf("gitops/argocd/%s.yaml exists already: the name %q is taken in the %s environment", e.App, opts.Name, e.Name)
			}
		}
	}
	return nil
}

// env is an Environment as the templates see it.
type env struct {
	Environment
	First bool
	Dir   string
}

// data is what the templates see.
type data struct {
	Name        string
	Module      string
	KitModule   string
	First       string
	Envs        []env
	Env         env
	Project     string
	ProjectFile string
	RepoURL     string
	LocalSlot   int
}

// render returns every new file, by path relative to the root.
func render(opts Options) (map[string][]byte, error) {
	if len(opts.Environments) == 0 {
		return nil, errors.New("no environments to scaffold the service for (gitops/environments.yaml)")
	}
	project, projectFile, repoURL, err := readProject(opts.Root)
	if err != nil {
		return nil, err
	}
	d := data{
		Name: opts.Name, Module: ModulePrefix + opts.Name, KitModule: ModulePrefix + service.Kit,
		First: opts.Environments[0].Name, Project: project, ProjectFile: projectFile, RepoURL: repoURL,
		LocalSlot: opts.LocalSlot,
	}
	for i, e := range opts.Environments {
		if e.Namespace == "" {
			return nil, fmt.Errorf("environment %s has no namespace: set namespace in gitops/environments.yaml", e.Name)
		}
		d.Envs = append(d.Envs, env{Environment: e, First: i == 0, Dir: path.Dir(e.Manifest)})
	}
	files := map[string][]byte{}
	svcDir := path.Join(service.Dir, opts.Name)
	for _, f := range []string{"main.go", "main_test.go", "README.md", "service.yaml"} {
		b, err := execute("template/service/"+f+".tmpl", d)
		if err != nil {
			return nil, err
		}
		files[path.Join(svcDir, f)] = b
	}
	files[path.Join(svcDir, "go.mod")] = goMod(d)
	// The kit's checksums seed the new module's go.sum: go mod tidy ignores
	// the workspace, and without them it asks the checksum database for
	// every module the kit brings, which fails offline even when the module
	// cache holds them all. Tidy drops the lines the service does not need.
	sum, err := os.ReadFile(filepath.Join(opts.Root, service.Dir, service.Kit, "go.sum"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the kit's go.sum: %w", err)
	}
	files[path.Join(svcDir, "go.sum")] = sum
	for _, e := range d.Envs {
		d.Env = e
		names := []string{"00-deployment.yaml", "01-service.yaml", "02-ingress.yaml", "03-pdb.yaml", "kustomization.yaml"}
		for _, n := range names {
			if n == "02-ingress.yaml" && e.Host == "" {
				continue
			}
			b, err := execute("template/gitops/"+n+".tmpl", d)
			if err != nil {
				return nil, err
			}
			if n == "kustomization.yaml" && e.Host == "" {
				b = bytes.ReplaceAll(b, []byte("  - 02-ingress.yaml\n"), nil)
			}
			target := path.Join("gitops", e.Dir, n)
			if n == "00-deployment.yaml" {
				target = path.Join("gitops", e.Manifest)
			}
			files[target] = b
		}
		if e.App != "" {
			b, err := execute("template/gitops/application.yaml.tmpl", d)
			if err != nil {
				return nil, err
			}
			files[path.Join("gitops", "argocd", e.App+".yaml")] = b
		}
	}
	return files, nil
}

func execute(name string, d data) ([]byte, error) {
	t, err := template.ParseFS(templates, name)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// goMod is the new module's go.mod before go mod tidy completes it: the
// kit, from the repository.
func goMod(d data) []byte {
	return []byte(fmt.Sprintf(`module %s

go 1.26.0

require %s v0.0.0

// The kit is the workspace's own module: the workspace (go.work) and this
// line resolve it from the repository, never from a proxy.
replace %s => ../%s
`, d.Module, d.KitModule, d.KitModule, service.Kit))
}

// readProject reads the Argo CD AppProject of the gitops template: its
// name, file and first source repository, which the Applications name.
func readProject(root string) (name, file, repoURL string, err error) {
	dir := filepath.Join(root, "gitops", "argocd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", "", "", fmt.Errorf("read gitops/argocd: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", "", "", err
		}
		var p struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				SourceRepos []string `yaml:"sourceRepos"`
			}
		}
		if yaml.Unmarshal(b, &p) != nil || p.Kind != "AppProject" {
			continue
		}
		if len(p.Spec.SourceRepos) == 0 {
			return "", "", "", fmt.Errorf("gitops/argocd/%s: the AppProject lists no sourceRepos", e.Name())
		}
		return p.Metadata.Name, e.Name(), p.Spec.SourceRepos[0], nil
	}
	return "", "", "", errors.New("gitops/argocd has no AppProject: the Applications of a new service need one to name")
}

// edit is a change to an existing file.
type edit struct {
	path     string // relative to the root
	old, new []byte
}

// edits computes the changes to existing files: go.work uses the module,
// and the Homer tile lists the service.
func edits(opts Options) ([]edit, error) {
	var out []edit
	work := filepath.Join(opts.Root, "go.work")
	b, err := os.ReadFile(work)
	if err != nil {
		return nil, fmt.Errorf("read go.work: %w", err)
	}
	wf, err := modfile.ParseWork("go.work", b, nil)
	if err != nil {
		return nil, fmt.Errorf("parse go.work: %w", err)
	}
	if err := wf.AddUse("./"+path.Join(service.Dir, opts.Name), ""); err != nil {
		return nil, fmt.Errorf("add %s to go.work: %w", opts.Name, err)
	}
	wf.SortBlocks()
	wf.Cleanup()
	out = append(out, edit{path: "go.work", old: b, new: modfile.Format(wf.Syntax)})

	homer := filepath.Join(opts.Root, "gitops", "homer", "config.yml")
	if b, err := os.ReadFile(homer); err == nil {
		url := ""
		if h := opts.Environments[0].Host; h != "" {
			url = "http://" + h + "/"
		}
		nb, err := AddTile(b, opts.Name, url)
		if err != nil {
			return nil, fmt.Errorf("gitops/homer/config.yml: %w", err)
		}
		out = append(out, edit{path: "gitops/homer/config.yml", old: b, new: nb})
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return out, nil
}

// AddTile adds the service's tile to the "Apps" group of a Homer
// configuration, after the group's last item, and changes no other byte.
func AddTile(config []byte, name, url string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(config, &doc); err != nil {
		return nil, err
	}
	items := find(&doc, "services", "Apps", "items")
	if items == nil || items.Kind != yaml.SequenceNode || len(items.Content) == 0 {
		return nil, errors.New(`no "Apps" group with items under services: add one by hand`)
	}
	last := items.Content[len(items.Content)-1]
	end := lastLine(last)
	indent := strings.Repeat(" ", last.Column-3) // the column of "- "
	var tile bytes.Buffer
	fmt.Fprintf(&tile, "%s- name: %s\n", indent, name)
	fmt.Fprintf(&tile, "%s  subtitle: a service of the monorepo, deployed by the CI/CD pipeline\n", indent)
	fmt.Fprintf(&tile, "%s  tag: gitops\n", indent)
	fmt.Fprintf(&tile, "%s  icon: fas fa-cube\n", indent)
	if url != "" {
		fmt.Fprintf(&tile, "%s  url: %s\n", indent, url)
		fmt.Fprintf(&tile, "%s  target: _blank\n", indent)
	}
	lines := bytes.SplitAfter(config, []byte("\n"))
	if end > len(lines) {
		end = len(lines)
	}
	if !bytes.HasSuffix(lines[end-1], []byte("\n")) {
		lines[end-1] = append(slices.Clone(lines[end-1]), '\n')
	}
	var out bytes.Buffer
	for _, l := range lines[:end] {
		out.Write(l)
	}
	out.Write(tile.Bytes())
	for _, l := range lines[end:] {
		out.Write(l)
	}
	return out.Bytes(), nil
}

// find walks mapping keys, and in a sequence the item whose name is the
// key, down from the document.
func find(n *yaml.Node, keys ...string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range keys {
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case yaml.SequenceNode:
			var next *yaml.Node
			for _, item := range n.Content {
				if v := find(item, "name"); v != nil && v.Value == k {
					next = item
				}
			}
			if next == nil {
				return nil
			}
			n = next
		default:
			return nil
		}
	}
	return n
}

// lastLine is the last line a node's text is on.
func lastLine(n *yaml.Node) int {
	line := n.Line
	for _, c := range n.Content {
		line = max(line, lastLine(c))
	}
	return line
}

// writer writes files and remembers what, to undo it.
type writer struct {
	root    string
	created []string // files
	dirs    []string // directories it made, deepest last
	edited  []string
	saved   []edit
}

func (w *writer) write(ctx context.Context, opts Options, files map[string][]byte, edits []edit) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := w.create(n, files[n]); err != nil {
			return err
		}
	}
	for _, e := range edits {
		if err := os.WriteFile(filepath.Join(w.root, filepath.FromSlash(e.path)), e.new, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", e.path, err)
		}
		w.saved = append(w.saved, e)
		w.edited = append(w.edited, e.path)
	}
	// go mod tidy completes go.mod from the kit's requirements and writes
	// go.sum: what `go mod tidy` by hand would, from the module cache.
	cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
	cmd.Dir = filepath.Join(w.root, service.Dir, opts.Name)
	cmd.Env = append(slices.Clone(opts.Env), "GOWORK=off", "GOFLAGS=-mod=mod")
	if opts.Env == nil {
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod tidy in %s/%s: %w: %s", service.Dir, opts.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// create writes a new file, making its directories.
func (w *writer) create(name string, content []byte) error {
	p := filepath.Join(w.root, filepath.FromSlash(name))
	var made []string
	for d := filepath.Dir(p); d != w.root; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		made = append(made, d)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(name), err)
	}
	slices.Reverse(made)
	w.dirs = append(w.dirs, made...)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	w.created = append(w.created, name)
	if _, err := f.Write(content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

// undo removes what was created and restores what was edited.
func (w *writer) undo() error {
	var errs []error
	for _, e := range w.saved {
		if err := os.WriteFile(filepath.Join(w.root, filepath.FromSlash(e.path)), e.old, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range w.created {
		if err := os.Remove(filepath.Join(w.root, filepath.FromSlash(n))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for i := len(w.dirs) - 1; i >= 0; i-- {
		if err := os.RemoveAll(w.dirs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
