package gitopscheck

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkReferences checks what no single object can: that the objects of the
// tree point at each other correctly. Each of these mistakes syncs cleanly in
// Argo CD and then fails at run time (a Service with no endpoints, an Ingress
// answering 503, a manifest kustomize never renders).
func checkReferences(dir string, objects []*object) []Problem {
	var problems []Problem
	kustomizations := map[string]*object{} // by directory
	for _, o := range objects {
		if _, ok := o.value.(*kustomization); ok {
			kustomizations[path.Dir(o.file)] = o
		}
	}
	// kustomize sets the namespace of objects that leave it empty.
	for _, o := range objects {
		if k, ok := kustomizations[path.Dir(o.file)]; ok && o.namespace == "" && o.kind.apiVersion != "" {
			if ns := k.value.(*kustomization).Namespace; ns != "" && o.kind.kind != "Namespace" && o != k {
				o.namespace = ns
			}
		}
	}
	for _, k := range kustomizations {
		problems = append(problems, checkKustomizationResources(dir, k)...)
	}
	for _, o := range objects {
		switch v := o.value.(type) {
		case *corev1.Service:
			problems = append(problems, checkServiceTargets(o, v, objects)...)
		case *networkingv1.Ingress:
			problems = append(problems, checkIngressBackends(o, v, objects)...)
		case *appsv1.Deployment:
			problems = append(problems, checkDisruptionBudget(o, v, objects)...)
		case *policyv1.PodDisruptionBudget:
			problems = append(problems, checkBudgetTargets(o, v, objects)...)
		case *application:
			if src := v.Spec.Source; src != nil && src.Path != "" {
				if info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(src.Path))); err != nil || !info.IsDir() {
					problems = append(problems, o.problem([]any{"spec", "source", "path"}, "spec.source.path %q is not a directory of this gitops tree, whose layout is the gitops repository's", src.Path))
				}
			}
		}
	}
	return problems
}

// checkKustomizationResources makes sure every listed resource exists and
// every manifest beside the kustomization is listed: Argo CD renders a
// directory with a kustomization.yaml through kustomize, which ignores files
// that are not listed.
func checkKustomizationResources(dir string, k *object) []Problem {
	var problems []Problem
	kdir := path.Dir(k.file)
	listed := map[string]bool{}
	for i, r := range k.value.(*kustomization).Resources {
		if strings.Contains(r, "://") || strings.HasPrefix(r, "github.com/") {
			continue // a remote base: nothing to look at offline
		}
		rel := path.Clean(path.Join(kdir, r))
		listed[rel] = true
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			problems = append(problems, k.problem([]any{"resources", i}, "resource %q does not exist", r))
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(kdir)))
	if err != nil {
		return append(problems, k.problem(nil, "list the kustomization's directory: %v", err))
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == path.Base(k.file) || (path.Ext(name) != ".yaml" && path.Ext(name) != ".yml") {
			continue
		}
		if !listed[path.Join(kdir, name)] {
			problems = append(problems, k.problem([]any{"resources"}, "%s is beside kustomization.yaml but not in its resources: kustomize (and so Argo CD) would never apply it", name))
		}
	}
	return problems
}

// checkServiceTargets makes sure the Service selects a Deployment's pods and
// that its target ports exist on them.
func checkServiceTargets(o *object, svc *corev1.Service, objects []*object) []Problem {
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil // endpoints managed by hand, or none
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var selected []*appsv1.Deployment
	for _, other := range objects {
		d, ok := other.value.(*appsv1.Deployment)
		if ok && other.namespace == o.namespace && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			selected = append(selected, d)
		}
	}
	if len(selected) == 0 {
		if undecoded(objects, "Deployment", o.namespace) {
			return nil // already reported; the selector may match it once fixed
		}
		return []Problem{o.problem([]any{"spec", "selector"}, "selector %s matches the pod template of no Deployment in namespace %q: the Service would have no endpoints", sel.String(), o.namespace)}
	}
	var problems []Problem
	for i, p := range svc.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port) // Kubernetes defaults targetPort to port
		}
		ok := false
		for _, d := range selected {
			for j := range d.Spec.Template.Spec.Containers {
				ok = ok || hasPort(&d.Spec.Template.Spec.Containers[j], target)
			}
		}
		if !ok {
			problems = append(problems, o.problem([]any{"spec", "ports", i, "targetPort"}, "targetPort %s is not a container port of the Deployment it selects", target.String()))
		}
	}
	return problems
}

// checkIngressBackends makes sure every backend is a Service of the tree with
// the named port.
func checkIngressBackends(o *object, ing *networkingv1.Ingress, objects []*object) []Problem {
	type backendAt struct {
		b    *networkingv1.IngressServiceBackend
		path []any
	}
	var backends []backendAt
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		backends = append(backends, backendAt{b.Service, []any{"spec", "defaultBackend"}})
	}
	for i, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for j, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				backends = append(backends, backendAt{p.Backend.Service, []any{"spec", "rules", i, "http", "paths", j, "backend", "service"}})
			}
		}
	}
	services := map[string]*corev1.Service{}
	var names []string
	for _, other := range objects {
		if s, ok := other.value.(*corev1.Service); ok && other.namespace == o.namespace {
			services[other.name] = s
			names = append(names, other.name)
		}
	}
	sort.Strings(names)
	var problems []Problem
	for _, b := range backends {
		svc, ok := services[b.b.Name]
		if !ok && undecoded(objects, "Service", o.namespace) {
			continue // already reported; it may be the backend once fixed
		}
		if !ok {
			problems = append(problems, o.problem(append(b.path, "name"), "backend Service %q is not in namespace %q of this tree (Services: %s): the Ingress would answer 503", b.b.Name, o.namespace, strings.Join(names, ", ")))
			continue
		}
		found := false
		for _, p := range svc.Spec.Ports {
			found = found || (b.b.Port.Name != "" && p.Name == b.b.Port.Name) || (b.b.Port.Name == "" && p.Port == b.b.Port.Number)
		}
		if !found {
			port := b.b.Port.Name
			if port == "" {
				port = strconv.Itoa(int(b.b.Port.Number))
			}
			problems = append(problems, o.problem(append(b.path, "port"), "backend port %s is not a port of Service %q", port, b.b.Name))
		}
	}
	return problems
}

// checkDisruptionBudget makes sure a Deployment of several replicas has a
// PodDisruptionBudget: without one, a node drain may evict all its pods at
// once, and the Service has no endpoint until they are rescheduled.
func checkDisruptionBudget(o *object, d *appsv1.Deployment, objects []*object) []Problem {
	if replicas(d) < 2 {
		return nil // one pod is down during any eviction, budget or not
	}
	for _, other := range objects {
		pdb, ok := other.value.(*policyv1.PodDisruptionBudget)
		if ok && other.namespace == o.namespace && budgetSelects(pdb, d) {
			return nil
		}
	}
	if undecoded(objects, "PodDisruptionBudget", o.namespace) {
		return nil // already reported; it may select these pods once fixed
	}
	return []Problem{o.problem([]any{"spec", "replicas"}, "replicas is %d and no PodDisruptionBudget in namespace %q selects its pods: a node drain may evict them all at once; add one (policy/v1, maxUnavailable: 1, the Deployment's selector) beside it and list it in kustomization.yaml", replicas(d), o.namespace)}
}

// checkBudgetTargets makes sure a PodDisruptionBudget selects a Deployment's
// pods, and still lets a node drain evict one of them.
func checkBudgetTargets(o *object, pdb *policyv1.PodDisruptionBudget, objects []*object) []Problem {
	var problems []Problem
	found := false
	for _, other := range objects {
		d, ok := other.value.(*appsv1.Deployment)
		if !ok || other.namespace != o.namespace || !budgetSelects(pdb, d) {
			continue
		}
		found = true
		n := int(replicas(d))
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			if v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, n, true); err == nil && v < 1 {
				problems = append(problems, o.problem([]any{"spec", "maxUnavailable"}, "maxUnavailable %s allows no eviction of Deployment %s's %d pods: a node drain would never finish; use maxUnavailable: 1", pdb.Spec.MaxUnavailable.String(), other.name, n))
			}
		case pdb.Spec.MinAvailable != nil:
			if v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, n, true); err == nil && v >= n {
				problems = append(problems, o.problem([]any{"spec", "minAvailable"}, "minAvailable %s with Deployment %s's %d replicas allows no eviction: a node drain would never finish; use maxUnavailable: 1", pdb.Spec.MinAvailable.String(), other.name, n))
			}
		}
	}
	if !found && !undecoded(objects, "Deployment", o.namespace) {
		problems = append(problems, o.problem([]any{"spec", "selector"}, "selector %s matches the pod template of no Deployment in namespace %q: the budget protects nothing; use the Deployment's selector", metav1.FormatLabelSelector(pdb.Spec.Selector), o.namespace))
	}
	return problems
}

// budgetSelects reports whether the budget's selector matches the pods of
// the Deployment. In policy/v1 a null selector matches no pod.
func budgetSelects(pdb *policyv1.PodDisruptionBudget, d *appsv1.Deployment) bool {
	if pdb.Spec.Selector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	return err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels))
}

// replicas is the Deployment's replica count, 1 when unset as Kubernetes
// defaults it.
func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// undecoded reports whether an object of kind in namespace is in the tree but
// did not decode, so a reference to it cannot be checked.
func undecoded(objects []*object, kind, namespace string) bool {
	for _, o := range objects {
		if o.value == nil && o.kind.kind == kind && o.namespace == namespace {
			return true
		}
	}
	return false
}
