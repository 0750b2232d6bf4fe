// Package service finds the services of the repository. A service is a
// directory services/<name> that is a module of the Go workspace (go.work)
// with a main package at its root: nothing else has to list it. Its image,
// its manifests, its Argo CD Applications and its local address follow
// from its name; the few things real services need to say otherwise are
// stated once, in services/<name>/service.yaml (see Overrides).
package service

import (
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"
)

// Dir is the directory of the services, relative to the repository root.
const Dir = "services"

// OverridesFile is the optional file, in a service's directory, that
// overrides what follows from the service's name.
const OverridesFile = "service.yaml"

// Kit is the directory of the service kit (services/kit), the shared module
// every service builds on: a library, never a service.
const Kit = "kit"

// Service is one service of the repository.
type Service struct {
	// Name is the service's directory name under services/: its image
	// name, its Kubernetes names and its metrics' prefix.
	Name string
	// Dir is the service's directory, relative to the root, with slashes:
	// services/<name>.
	Dir string
	// Module is the module path of services/<name>/go.mod, whose root
	// package is the service's main package.
	Module string
	// Overrides are what services/<name>/service.yaml says, if anything.
	Overrides Overrides
}

// Overrides are the settings of services/<name>/service.yaml. Each is
// optional; a service without the file takes every default.
type Overrides struct {
	// Container is the container the bump sets the image of in each
	// environment's manifest; the service's name by default.
	Container string `yaml:"container"`
	// Probes are the paths the soak after a deploy requests; "/" by
	// default.
	Probes []string `yaml:"probes"`
	// LocalSlot pins where the local loop serves the service: LOCAL_ADDR's
	// port + 10 × LocalSlot in the first environment, and n further in the
	// n-th. `mage new` gives each new service the next free slot, so that
	// adding a service moves no other; a service without one takes the
	// lowest free slot, in name order.
	LocalSlot *int `yaml:"localSlot"`
	// Manifests maps an environment to the manifest its bumps edit, in
	// place of the environments file's path for this service.
	Manifests map[string]string `yaml:"manifests"`
}

// Container is the container the bump sets, the service's name by default.
func (s Service) Container() string {
	if s.Overrides.Container != "" {
		return s.Overrides.Container
	}
	return s.Name
}

// Probes are the paths a soak requests, "/" by default.
func (s Service) Probes() []string {
	if len(s.Overrides.Probes) > 0 {
		return slices.Clone(s.Overrides.Probes)
	}
	return []string{"/"}
}

// List returns the services of the repository at root, in name order.
// A directory of services/ that is a module with a main package but is
// missing from go.work is an error that says so: it would be built by
// nobody.
func List(root string) ([]Service, error) {
	entries, err := os.ReadDir(filepath.Join(root, Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Dir, err)
	}
	work, err := workModules(root)
	if err != nil {
		return nil, err
	}
	var out []Service
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || e.Name() == Kit || strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		dir := path.Join(Dir, e.Name())
		gomod, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), "go.mod"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // not a module: not a service
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s/go.mod: %w", dir, err))
			continue
		}
		isMain, err := mainPackage(filepath.Join(root, filepath.FromSlash(dir)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !isMain {
			continue // a library module
		}
		if !work[dir] {
			errs = append(errs, fmt.Errorf("%s is a module with a main package but go.work does not use it: run `go work use ./%s` (or `go tool mage new` for a new service), or move it out of %s/", dir, dir, Dir))
			continue
		}
		svc := Service{Name: e.Name(), Dir: dir, Module: modfile.ModulePath(gomod)}
		if err := CheckName(svc.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w: rename the directory", dir, err))
			continue
		}
		if svc.Overrides, err = readOverrides(root, dir); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, svc)
	}
	return out, errors.Join(errs...)
}

// Find returns the service named name.
func Find(services []Service, name string) (Service, error) {
	for _, s := range services {
		if s.Name == name {
			return s, nil
		}
	}
	return Service{}, fmt.Errorf("no service %q: the services are %s", name, Names(services))
}

// Names lists the services' names for a message: "a, b and c".
func Names(services []Service) string {
	var names []string
	for _, s := range services {
		names = append(names, s.Name)
	}
	switch len(names) {
	case 0:
		return "none (no services/<name> module with a main package in go.work)"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// MaxNameLen bounds a service's name: Kubernetes names a Service with a
// DNS-1035 label of at most 63 characters, and the name of a later
// environment's Application adds "-<environment>" to it.
const MaxNameLen = 40

var dns1035 = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// reserved are names a service cannot take: the kit, and the directories
// Go gives a meaning to.
var reserved = []string{Kit, "internal", "testdata", "vendor"}

// CheckName refuses a name that cannot name a service: not a DNS-1035
// label (lower-case letters, digits and '-', starting with a letter, not
// ending with '-'), longer than MaxNameLen, or reserved.
func CheckName(name string) error {
	switch {
	case slices.Contains(reserved, name):
		return fmt.Errorf("service name %q is reserved (%s)", name, strings.Join(reserved, ", "))
	case len(name) > MaxNameLen:
		return fmt.Errorf("service name %q is %d characters long: at most %d, so that its Kubernetes and Argo CD names fit", name, len(name), MaxNameLen)
	case !dns1035.MatchString(name):
		return fmt.Errorf("service name %q is not a DNS label: use lower-case letters, digits and '-', starting with a letter and not ending with '-' (it names the image, the Kubernetes objects and the Argo CD Applications)", name)
	}
	return nil
}

// workModules are the directories go.work uses, cleaned, relative to root.
func workModules(root string) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, fmt.Errorf("read go.work: %w", err)
	}
	wf, err := modfile.ParseWork("go.work", b, nil)
	if err != nil {
		return nil, fmt.Errorf("parse go.work: %w", err)
	}
	out := map[string]bool{}
	for _, u := range wf.Use {
		out[path.Clean(filepath.ToSlash(u.Path))] = true
	}
	return out, nil
}

// mainPackage reports whether the Go files of dir (tests aside) are
// package main.
func mainPackage(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", dir, err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err != nil {
			return false, fmt.Errorf("read the package of %s: %w", filepath.Join(dir, n), err)
		}
		if f.Name.Name == "main" {
			return true, nil
		}
	}
	return false, nil
}

// readOverrides reads services/<name>/service.yaml strictly, if present.
func readOverrides(root, dir string) (Overrides, error) {
	file := path.Join(dir, OverridesFile)
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
	if errors.Is(err, fs.ErrNotExist) {
		return Overrides{}, nil
	}
	if err != nil {
		return Overrides{}, fmt.Errorf("read %s: %w", file, err)
	}
	var o Overrides
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
		msg = strings.ReplaceAll(msg, "in type service.Overrides", "(known fields: container, probes, localSlot, manifests)")
		return Overrides{}, fmt.Errorf("%s: %s", file, msg)
	}
	var errs []error
	if o.Container != "" && !dns1035.MatchString(o.Container) {
		errs = append(errs, fmt.Errorf("%s: container %q is not a container name: lower-case letters, digits and '-'", file, o.Container))
	}
	for _, p := range o.Probes {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\n?#") {
			errs = append(errs, fmt.Errorf("%s: probe %q is not a path: write it like /api/items", file, p))
		}
	}
	if o.LocalSlot != nil && (*o.LocalSlot < 0 || *o.LocalSlot > 999) {
		errs = append(errs, fmt.Errorf("%s: localSlot %d: want a whole number from 0 to 999", file, *o.LocalSlot))
	}
	return o, errors.Join(errs...)
}
