package gitopscheck

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// environmentsFile is the environments file, relative to the gitops tree.
var environmentsFile = strings.TrimPrefix(config.EnvironmentsFile, "gitops/")

// checkEnvironments checks the environments file against the tree: each
// environment's manifest exists and holds its container, its Argo CD
// Application deploys the manifest's directory, and every environment's
// manifests are the first one's but for what may differ between them
// (namespace, Ingress host, replicas, image): an environment that drifts
// from the one before it is not the environment a promotion was verified in.
func checkEnvironments(dir string, objects []*object) []Problem {
	data, err := os.ReadFile(filepath.Join(dir, environmentsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []Problem{{File: environmentsFile, Message: err.Error()}}
	}
	envs, err := config.ParseEnvironments(environmentsFile, data)
	if err != nil {
		var problems []Problem
		for _, line := range strings.Split(err.Error(), "\n") {
			problems = append(problems, environmentsProblem(line))
		}
		return problems
	}
	var problems []Problem
	apps := map[string]*application{}
	for _, o := range objects {
		if a, ok := o.value.(*application); ok {
			apps[o.name] = a
		}
	}
	services := servicesIn(dir, envs)
	if len(services) == 0 {
		return []Problem{{File: environmentsFile, Message: fmt.Sprintf("no service has a manifest at the first environment's path (%s): add one (go tool mage new <name>), or fix the path", envs[0].Path)}}
	}
	for _, svc := range services {
		for _, e := range envs {
			problems = append(problems, checkTarget(dir, apps, svc, e)...)
		}
		for i := 1; i < len(envs); i++ {
			problems = append(problems, checkDrift(objects, forService(envs[0], svc), forService(envs[i], svc))...)
		}
	}
	return problems
}

// forService is the environment with a service's name in its patterns.
func forService(e config.Environment, svc string) config.Environment {
	r := strings.NewReplacer(config.ServicePlaceholder, svc)
	e.Path, e.Container, e.ArgoApp, e.VerifyURL = r.Replace(e.Path), r.Replace(e.Container), r.Replace(e.ArgoApp), r.Replace(e.VerifyURL)
	if e.Container == "" {
		e.Container = svc
	}
	return e
}

// servicesIn finds the services of a gitops tree: the names for which the
// first environment's manifest exists, less those whose manifest is
// another service's in a later environment (platform-demo-production is
// platform-demo's production, not a service of its own).
func servicesIn(dir string, envs []config.Environment) []string {
	first := envs[0].Path
	if !strings.Contains(first, config.ServicePlaceholder) {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(first))); err == nil {
			return []string{""}
		}
		return nil
	}
	glob := strings.ReplaceAll(first, config.ServicePlaceholder, "*")
	matches, _ := filepath.Glob(filepath.Join(dir, filepath.FromSlash(glob)))
	prefix, suffix, _ := strings.Cut(first, config.ServicePlaceholder)
	var names []string
	for _, m := range matches {
		rel, err := filepath.Rel(dir, m)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		name := strings.TrimSuffix(strings.TrimPrefix(rel, prefix), suffix)
		if name != "" && !strings.Contains(name, "/") {
			names = append(names, name)
		}
	}
	var out []string
	for _, n := range names {
		later := false
		for _, other := range names {
			for _, e := range envs[1:] {
				if other != n && forService(e, other).Path == forService(envs[0], n).Path {
					later = true
				}
			}
		}
		if !later {
			out = append(out, n)
		}
	}
	return out
}

// checkTarget checks one service's place in one environment: its manifest
// exists and holds its container, in the environment's namespace, and its
// Argo CD Application deploys the manifest's directory.
func checkTarget(dir string, apps map[string]*application, svc string, env config.Environment) []Problem {
	e := forService(env, svc)
	who := "environment " + e.Name
	if svc != "" {
		who = "service " + svc + " in " + e.Name
	}
	var problems []Problem
	content, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
	if err != nil {
		return []Problem{{File: environmentsFile, Message: fmt.Sprintf("%s: path %s does not exist in the gitops tree", who, e.Path)}}
	}
	if _, err := manifest.Read(content, e.Container); err != nil {
		problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("%s: %s: %v", who, e.Path, err)})
	}
	if e.Namespace != "" {
		var meta struct {
			Metadata struct{ Namespace string } `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal(content, &meta); err == nil && meta.Metadata.Namespace != e.Namespace {
			problems = append(problems, Problem{File: e.Path, Message: fmt.Sprintf("%s: namespace %q, but %s declares %q for %s", who, meta.Metadata.Namespace, environmentsFile, e.Namespace, e.Name)})
		}
	}
	if e.ArgoApp != "" {
		switch a, ok := apps[e.ArgoApp]; {
		case !ok:
			problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("%s: no Argo CD Application %q in the tree (argocd/%s.yaml, as go tool mage new writes it)", who, e.ArgoApp, e.ArgoApp)})
		case a.Spec.Source == nil || path.Clean(a.Spec.Source.Path) != path.Dir(e.Path):
			problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("%s: Application %s does not deploy %s, the directory of its manifest", who, e.ArgoApp, path.Dir(e.Path))})
		case e.Namespace != "" && a.Spec.Destination.Namespace != e.Namespace:
			problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("%s: Application %s deploys to namespace %q, not the environment's %q", who, e.ArgoApp, a.Spec.Destination.Namespace, e.Namespace)})
		}
	}
	return problems
}

var fileLine = regexp.MustCompile(`^[^:]+:(\d+): `)

// environmentsProblem turns a line of the parser's error into a problem.
func environmentsProblem(msg string) Problem {
	p := Problem{File: environmentsFile, Message: msg}
	if m := fileLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = strings.TrimPrefix(msg, m[0])
	} else {
		p.Message = strings.TrimPrefix(msg, environmentsFile+": ")
	}
	return p
}

// checkDrift compares the objects of env's manifest directory with those of
// base's, by kind and name, once what may differ is set aside.
func checkDrift(objects []*object, base, env config.Environment) []Problem {
	baseDir, envDir := path.Dir(base.Path), path.Dir(env.Path)
	key := func(o *object) string { return o.kind.kind + "/" + o.name }
	inBase := map[string]*object{}
	for _, o := range objects {
		if path.Dir(o.file) == baseDir && o.value != nil {
			inBase[key(o)] = o
		}
	}
	var problems []Problem
	seen := map[string]bool{}
	for _, o := range objects {
		if path.Dir(o.file) != envDir || o.value == nil {
			continue
		}
		seen[key(o)] = true
		b, ok := inBase[key(o)]
		if !ok {
			problems = append(problems, o.problem(nil, "environment %s has %s, which %s has not: environments differ only in namespace, host, replicas and image", env.Name, key(o), base.Name))
			continue
		}
		if !reflect.DeepEqual(comparable(b.value), comparable(o.value)) {
			problems = append(problems, o.problem(nil, "environment %s's %s differs from %s's (%s) in more than namespace, host, replicas and image: change both, or neither", env.Name, key(o), base.Name, b.file))
		}
	}
	for k, b := range inBase {
		if !seen[k] {
			problems = append(problems, b.problem(nil, "environment %s has no %s, which %s has: environments differ only in namespace, host, replicas and image", env.Name, k, base.Name))
		}
	}
	return problems
}

// comparable is a copy of an object's value without what environments may
// set each their own way.
func comparable(v any) any {
	switch o := v.(type) {
	case *appsv1.Deployment:
		c := o.DeepCopy()
		c.Namespace, c.Spec.Replicas = "", nil
		delete(c.Spec.Template.Annotations, manifest.SourceCommitAnnotation)
		for i := range c.Spec.Template.Spec.Containers {
			c.Spec.Template.Spec.Containers[i].Image = ""
		}
		return c
	case *corev1.Service:
		c := o.DeepCopy()
		c.Namespace = ""
		return c
	case *networkingv1.Ingress:
		c := o.DeepCopy()
		c.Namespace = ""
		for i := range c.Spec.Rules {
			c.Spec.Rules[i].Host = ""
		}
		for i := range c.Spec.TLS {
			c.Spec.TLS[i].Hosts, c.Spec.TLS[i].SecretName = nil, ""
		}
		return c
	case *policyv1.PodDisruptionBudget:
		c := o.DeepCopy()
		c.Namespace = ""
		return c
	case *kustomization:
		c := *o
		c.Namespace = ""
		return c
	}
	return v
}
