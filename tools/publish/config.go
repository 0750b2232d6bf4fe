package publish

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/ko/pkg/build"
	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"
)

// ConfigFile is the ko configuration file at the repository root: the one
// place that holds build settings.
const ConfigFile = ".ko.yaml"

// ldflagsVar is the environment variable the .ko.yaml ldflags template reads
// ({{.Env.LDFLAGS}}, as in ko's own .ko.yaml). Image sets it, for the build
// only, to buildinfo.LDFlags so that `mage build` and the image agree.
const ldflagsVar = "LDFLAGS"

// koConfig is the subset of ko's .ko.yaml schema that Image honours. The
// per-build entries are ko's own type, so they mean what they mean to ko.
type koConfig struct {
	DefaultBaseImage   string            `yaml:"defaultBaseImage"`
	BaseImageOverrides map[string]string `yaml:"baseImageOverrides"`
	DefaultPlatforms   []string          `yaml:"defaultPlatforms"`
	DefaultEnv         []string          `yaml:"defaultEnv"`
	DefaultFlags       []string          `yaml:"defaultFlags"`
	DefaultLdflags     []string          `yaml:"defaultLdflags"`
	Builds             []build.Config    `yaml:"builds"`
}

// target is what .ko.yaml says about the one main package being published.
type target struct {
	importPath string
	// dir is where `go build` runs: the repository root joined with the
	// builds entry's dir.
	dir    string
	config build.Config
	// base is the production base image for this import path.
	base string
}

// configPath is where the build settings are: path when set (a .ko.yaml,
// or a directory holding one, as ko reads KO_CONFIG_PATH), else
// root/.ko.yaml.
func configPath(root, path string) string {
	if path == "" {
		return filepath.Join(root, ConfigFile)
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return filepath.Join(path, ConfigFile)
	}
	return path
}

// readConfig parses the build settings strictly: a key Image would not
// honour is an error rather than a silently ignored setting.
func readConfig(path string) (koConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return koConfig{}, fmt.Errorf("read build settings: %w", err)
	}
	var c koConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return koConfig{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return c, nil
}

// targetFor resolves what ko needs to build main, a path relative to root
// (services/<name>): its builds entry when .ko.yaml has one whose dir
// joined with its main is main, else the defaults (defaultEnv,
// defaultFlags, defaultLdflags), which is how every service of the
// repository is built unless it says otherwise.
func (c koConfig) targetFor(root, main string) (target, error) {
	if main == "" {
		return target{}, errors.New("publish: no main package to build: name the service's directory (services/<name>)")
	}
	want := filepath.Join(root, main)
	cfg := build.Config{Dir: "."}
	found := false
	for _, b := range c.Builds {
		dir := filepath.Join(root, b.Dir)
		pkg := filepath.Join(dir, b.Main)
		// Like ko (after GoReleaser), main may name a source file.
		if fi, err := os.Stat(pkg); err == nil && fi.Mode().IsRegular() {
			pkg = filepath.Dir(pkg)
		}
		if pkg == want {
			cfg, found = b, true
			break
		}
	}
	if fi, err := os.Stat(want); err != nil || !fi.IsDir() {
		return target{}, fmt.Errorf("publish: %s is not a directory: name a service's directory (services/<name>)", main)
	}
	ip, err := importPath(want)
	if err != nil {
		return target{}, err
	}
	cfg.Env = slices.Clone(cfg.Env)
	if len(cfg.Env) == 0 {
		cfg.Env = slices.Clone(c.DefaultEnv)
	}
	if len(cfg.Flags) == 0 {
		cfg.Flags = slices.Clone(c.DefaultFlags)
	}
	if len(cfg.Ldflags) == 0 {
		cfg.Ldflags = slices.Clone(c.DefaultLdflags)
	}
	if !slices.ContainsFunc(cfg.Ldflags, func(s string) bool { return strings.Contains(s, ".Env."+ldflagsVar) }) {
		where := "defaultLdflags"
		if found {
			where = "the builds entry for " + main
		}
		return target{}, fmt.Errorf("%s: %s has no {{.Env.%s}} in its ldflags, so the image would not carry its version; add it", ConfigFile, where, ldflagsVar)
	}
	base := c.DefaultBaseImage
	if o := c.BaseImageOverrides[strings.ToLower(ip)]; o != "" {
		base = o
	}
	if base == "" {
		return target{}, fmt.Errorf("%s: no defaultBaseImage; set it to the production base pinned by digest", ConfigFile)
	}
	if _, err := name.ParseReference(base); err != nil {
		return target{}, fmt.Errorf("%s: base image %q: %w", ConfigFile, base, err)
	}
	return target{importPath: ip, dir: filepath.Join(root, cfg.Dir), config: cfg, base: base}, nil
}

// importPath derives the import path of the package in dir from the nearest
// go.mod, without running the go tool.
func importPath(dir string) (string, error) {
	for d := dir; ; {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			mod := modfile.ModulePath(b)
			if mod == "" {
				return "", fmt.Errorf("read module path of %s: no module line in go.mod", d)
			}
			rel, err := filepath.Rel(d, dir)
			if err != nil {
				return "", err
			}
			if rel == "." {
				return mod, nil
			}
			return mod + "/" + filepath.ToSlash(rel), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read module of %s: %w", dir, err)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("find the module of %s: no go.mod in it or above it", dir)
		}
		d = parent
	}
}

// Settings is what the build settings say about the image of one main
// package: how `mage build` builds it on this machine to match the image,
// and what the repository's policy checks (tools/policy/kocheck).
type Settings struct {
	// Dir is where `go build` runs.
	Dir string
	// Package is the main package's import path.
	Package string
	// Flags are the `go build` flags (-trimpath, ...), without -ldflags.
	Flags []string
	// Env is added to `go build`'s environment (CGO_ENABLED=0, ...).
	Env []string
	// Ldflags are the builds entry's ldflags, templates unexpanded.
	Ldflags []string
	// Base is the production base image.
	Base string
	// Platforms are the default platforms.
	Platforms []string
}

// ReadSettings reads the build settings at config (see Options.Config) for
// main (a service's directory relative to root), the one place that says
// how the image, and `mage build`, are built.
func ReadSettings(root, config, main string) (Settings, error) {
	cfg, err := readConfig(configPath(root, config))
	if err != nil {
		return Settings{}, err
	}
	tgt, err := cfg.targetFor(root, main)
	if err != nil {
		return Settings{}, err
	}
	return Settings{
		Dir: tgt.dir, Package: tgt.importPath, Flags: slices.Clone([]string(tgt.config.Flags)), Env: tgt.config.Env,
		Ldflags: slices.Clone([]string(tgt.config.Ldflags)), Base: tgt.base, Platforms: slices.Clone(cfg.DefaultPlatforms),
	}, nil
}
