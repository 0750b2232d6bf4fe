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
	for _, e := range envs {
		container := e.Container
		if container == "" {
			container = "platform-demo"
		}
		content, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
		if err != nil {
			problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("environment %s: path %s does not exist in the gitops tree", e.Name, e.Path)})
			continue
		}
		if _, err := manifest.Read(content, container); err != nil {
			problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("environment %s: %s: %v", e.Name, e.Path, err)})
		}
		if e.ArgoApp != "" {
			switch a, ok := apps[e.ArgoApp]; {
			case !ok:
				problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("environment %s: no Argo CD Application %q in the tree", e.Name, e.ArgoApp)})
			case a.Spec.Source == nil || path.Clean(a.Spec.Source.Path) != path.Dir(e.Path):
				problems = append(problems, Problem{File: environmentsFile, Message: fmt.Sprintf("environment %s: Application %s does not deploy %s, the directory of its manifest", e.Name, e.ArgoApp, path.Dir(e.Path))})
			}
		}
	}
	for i := 1; i < len(envs); i++ {
		problems = append(problems, checkDrift(objects, envs[0], envs[i])...)
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
