package gitopscheck

import (
	"net/url"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kindSpec says how to decode and check one kind of document.
type kindSpec struct {
	apiVersion string
	kind       string
	// newValue returns a pointer to a zero value to decode into.
	newValue func() any
	// check returns the problems of one decoded object, nil when it has none.
	check func(*object) []Problem
	// partial marks a local struct that models only the fields this product
	// uses (k8s.io/api has no type for it), so an unknown field may be real.
	partial bool
	// plain decodes without rejecting unknown fields, for files that are not
	// Kubernetes objects and have no schema to hold them to.
	plain bool
}

// kinds lists every kind the gitops tree may contain. A kind missing here is
// reported rather than skipped, so nothing reaches the cluster unchecked.
var kinds = []kindSpec{
	{apiVersion: "apps/v1", kind: "Deployment", newValue: func() any { return new(appsv1.Deployment) }, check: checkDeployment},
	{apiVersion: "v1", kind: "Service", newValue: func() any { return new(corev1.Service) }},
	{apiVersion: "networking.k8s.io/v1", kind: "Ingress", newValue: func() any { return new(networkingv1.Ingress) }, check: checkIngress},
	{apiVersion: "policy/v1", kind: "PodDisruptionBudget", newValue: func() any { return new(policyv1.PodDisruptionBudget) }},
	{apiVersion: "v1", kind: "ConfigMap", newValue: func() any { return new(corev1.ConfigMap) }},
	{apiVersion: "v1", kind: "Namespace", newValue: func() any { return new(corev1.Namespace) }},
	{apiVersion: "v1", kind: "Secret", newValue: func() any { return new(corev1.Secret) }, check: checkSecret},
	kustomizationKind,
	{apiVersion: "argoproj.io/v1alpha1", kind: "Application", newValue: func() any { return new(application) }, check: checkApplication, partial: true},
	{apiVersion: "argoproj.io/v1alpha1", kind: "AppProject", newValue: func() any { return new(appProject) }, check: checkAppProject, partial: true},
}

var kustomizationKind = kindSpec{apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", newValue: func() any { return new(kustomization) }, partial: true}

// homerKind is the Homer dashboard configuration: plain YAML, not a
// Kubernetes object, recognised by living under a homer/ directory.
var homerKind = kindSpec{kind: "Homer config", newValue: func() any { return new(homerConfig) }, check: checkHomer, plain: true}

// lookupKind returns how to decode a document of file with the given type.
func lookupKind(file, apiVersion, kind string) (kindSpec, bool) {
	if apiVersion == "" && kind == "" {
		// kustomize accepts a kustomization without apiVersion and kind.
		if base := path.Base(file); base == "kustomization.yaml" || base == "kustomization.yml" {
			return kustomizationKind, true
		}
		if path.Base(path.Dir(file)) == "homer" {
			return homerKind, true
		}
		return kindSpec{}, false
	}
	for _, k := range kinds {
		if k.apiVersion == apiVersion && k.kind == kind {
			return k, true
		}
	}
	return kindSpec{}, false
}

// knownKinds lists the kinds for error messages.
func knownKinds() string {
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, k.apiVersion+" "+k.kind)
	}
	return strings.Join(names, ", ")
}

// checkSecret rejects a Secret that carries data: anything committed to the
// gitops repository is readable by everyone who can read the repository, and
// base64 is an encoding, not encryption.
func checkSecret(o *object) []Problem {
	s := o.value.(*corev1.Secret)
	var problems []Problem
	if len(s.Data) > 0 {
		problems = append(problems, o.problem([]any{"data"}, "carries data: secrets never live in git; create it with kubectl out of band (see docs/runbook.md) and reference it by name"))
	}
	if len(s.StringData) > 0 {
		problems = append(problems, o.problem([]any{"stringData"}, "carries stringData: secrets never live in git; create it with kubectl out of band (see docs/runbook.md) and reference it by name"))
	}
	return problems
}

// ingressClass is the IngressClass of the cluster's ingress controller:
// k3s's bundled Traefik registers it under this name.
const ingressClass = "traefik"

// checkIngress makes sure the Ingress names its controller: without a class
// it is served only while some controller is the cluster's default, and
// silently by whichever one that is.
func checkIngress(o *object) []Problem {
	ing := o.value.(*networkingv1.Ingress)
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName == "" {
		return []Problem{o.problem([]any{"spec"}, "spec.ingressClassName is not set: the Ingress would be served only while some controller is the cluster's default; set it to %s (k3s's Traefik)", ingressClass)}
	}
	return nil
}

// kustomization models the kustomization.yaml fields this product uses;
// k8s.io/api has no type for it.
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        *metav1.ObjectMeta `json:"metadata,omitempty"`
	Namespace       string             `json:"namespace,omitempty"`
	NamePrefix      string             `json:"namePrefix,omitempty"`
	NameSuffix      string             `json:"nameSuffix,omitempty"`
	Resources       []string           `json:"resources,omitempty"`
	Components      []string           `json:"components,omitempty"`
	CommonLabels    map[string]string  `json:"commonLabels,omitempty"`
	CommonAnnots    map[string]string  `json:"commonAnnotations,omitempty"`
	Images          []kustomizeImage   `json:"images,omitempty"`
}

// kustomizeImage is one entry of a kustomization's images: list, which the
// bump also keeps in step when it exists.
type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// homerConfig is the part of a Homer dashboard config.yml that holds tiles.
type homerConfig struct {
	Services []struct {
		Name  string `yaml:"name"`
		Items []struct {
			Name string `yaml:"name"`
			URL  string `yaml:"url"`
		} `yaml:"items"`
	} `yaml:"services"`
}

// checkHomer makes sure every tile has a name and a link that opens.
func checkHomer(o *object) []Problem {
	h := o.value.(*homerConfig)
	var problems []Problem
	if len(h.Services) == 0 {
		problems = append(problems, o.problem(nil, "no services: a Homer tile lives in a group under services:"))
	}
	for i, g := range h.Services {
		if g.Name == "" {
			problems = append(problems, o.problem([]any{"services", i}, "service group has no name"))
		}
		for j, it := range g.Items {
			at := []any{"services", i, "items", j}
			if it.Name == "" {
				problems = append(problems, o.problem(at, "tile in group %q has no name", g.Name))
			}
			if u, err := url.Parse(it.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				problems = append(problems, o.problem(append(at, "url"), "tile %q: url %q is not an absolute http(s) URL", it.Name, it.URL))
			}
		}
	}
	return problems
}
