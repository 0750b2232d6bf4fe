package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// EnvironmentsFile is where the environments are declared, relative to the
// repository root: beside the gitops template they deploy.
const EnvironmentsFile = "gitops/environments.yaml"

// Environment is one place commits go live, in the order commits go
// through them: `mage ci` deploys the first, `mage promote` moves a verified
// image from one to the next. Every service goes through every
// environment: the fields that differ between services are patterns in
// which {service} stands for the service's name.
type Environment struct {
	// Name names the environment, e.g. staging.
	Name string `yaml:"name"`
	// Path is the manifest the bump edits (GITOPS_PATH), e.g.
	// manifests/{service}/00-deployment.yaml.
	Path string `yaml:"path"`
	// Branch is the gitops branch it is on (GITOPS_BRANCH).
	Branch string `yaml:"branch"`
	// Container is the container whose image is bumped (GITOPS_CONTAINER);
	// {service} when empty.
	Container string `yaml:"container"`
	// VerifyURL is the service's base URL (VERIFY_URL).
	VerifyURL string `yaml:"verifyURL"`
	// ArgoApp is the Argo CD Application that deploys it (ARGOCD_APP).
	ArgoApp string `yaml:"argocdApp"`
	// LocalAddr is where the local loop serves the first service in it
	// (LOCAL_ADDR); the next services are 10 ports further each.
	LocalAddr string `yaml:"localAddr"`
	// Namespace is the Kubernetes namespace of its services, which a new
	// service's manifests name (`mage new`).
	Namespace string `yaml:"namespace"`

	// line is where the environment starts in the file, for messages.
	line int
}

// ServicePlaceholder stands for a service's name in the fields of an
// environment and in the per-environment settings.
const ServicePlaceholder = "{service}"

// expand puts a service's name in a pattern.
func expand(pattern, service string) string {
	return strings.ReplaceAll(pattern, ServicePlaceholder, service)
}

// environmentsFile is the file's schema.
type environmentsFile struct {
	Environments []Environment `yaml:"environments"`
}

var envName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// ParseEnvironments reads an environments file strictly: unknown fields,
// a missing name or path, and a name used twice are errors that name the
// file and the line. Defaults (branch, container) are not filled in here.
func ParseEnvironments(file string, data []byte) ([]Environment, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty: list the environments under `environments:`", file)
		}
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f environmentsFile
	if err := dec.Decode(&f); err != nil {
		// yaml.v3 says "line N: field x not found in type config.Environment".
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
		msg = strings.ReplaceAll(msg, "in type config.Environment", "(known fields: name, path, branch, container, verifyURL, argocdApp, localAddr, namespace)")
		msg = strings.ReplaceAll(msg, "in type config.environmentsFile", "(the file holds `environments:` only)")
		return nil, fmt.Errorf("%s: %s", file, strings.ReplaceAll(msg, "\n  ", "; "))
	}
	if len(f.Environments) == 0 {
		return nil, fmt.Errorf("%s: no environments: list at least one under `environments:`", file)
	}
	lines := itemLines(&doc)
	seen := map[string]int{}
	var errs []error
	for i := range f.Environments {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		f.Environments[i].line = line
		e := f.Environments[i]
		switch {
		case !envName.MatchString(e.Name):
			errs = append(errs, fmt.Errorf("%s:%d: environment name %q: want lower-case letters, digits and '-', starting with a letter", file, line, e.Name))
		case seen[e.Name] != 0:
			errs = append(errs, fmt.Errorf("%s:%d: environment %q is declared twice (first at line %d)", file, line, e.Name, seen[e.Name]))
		default:
			seen[e.Name] = line
		}
		if e.Path == "" {
			errs = append(errs, fmt.Errorf("%s:%d: environment %q has no path: name the manifest its bumps edit", file, line, e.Name))
		}
		// The rules the variables that override these fields are held to.
		for _, f := range []struct{ variable, value string }{
			{"GITOPS_PATH", e.Path}, {"GITOPS_BRANCH", e.Branch}, {"VERIFY_URL", e.VerifyURL}, {"LOCAL_ADDR", e.LocalAddr},
		} {
			if f.value == "" {
				continue
			}
			if err := checkField(f.variable, expand(f.value, "service")); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: environment %q: %s %q %w", file, line, e.Name, fieldNames[f.variable], shown(f.variable, f.value), err))
			}
		}
	}
	return f.Environments, errors.Join(errs...)
}

// itemLines are the lines where the items of the environments list start.
func itemLines(doc *yaml.Node) []int {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "environments" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, item := range m.Content[i+1].Content {
				out = append(out, item.Line)
			}
			return out
		}
	}
	return nil
}

// overrideName is the variable that sets field of environment env for one
// run, e.g. VERIFY_URL_PRODUCTION.
func overrideName(variable, env string) string {
	return variable + "_" + strings.ToUpper(strings.ReplaceAll(env, "-", "_"))
}

// ReadEnvironments reads the environments file of the repository at root,
// as written: {service} left in, no setting applied. A repository without
// one has none.
func ReadEnvironments(root string) ([]Environment, error) {
	data, err := os.ReadFile(filepath.Join(root, EnvironmentsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", EnvironmentsFile, err)
	}
	return ParseEnvironments(EnvironmentsFile, data)
}
