package gitopscheck

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// The runtime policy every Deployment in the tree meets. The values follow
// the service and its image: the distroless static base runs as the nonroot
// user 65532, the service answers /healthz and /readyz, and on SIGTERM it
// drains for SHUTDOWN_DRAIN and then waits up to SHUTDOWN_TIMEOUT for requests
// in flight.
const (
	scrapeAnnotation       = "prometheus.io/scrape"
	scrapePortAnnotation   = "prometheus.io/port"
	scrapePathAnnotation   = "prometheus.io/path"
	goMemLimit             = "GOMEMLIMIT"
	minReadinessFailures   = 2
	pullSecret             = "ghcr-pull"
	nonrootID              = 65532
	livenessPath           = "/healthz"
	readinessPath          = "/readyz"
	defaultShutdownDrain   = 5 * time.Second
	defaultShutdownTimeout = 10 * time.Second
)

// hostnameKey is the node label a spread over nodes keys on.
const hostnameKey = "kubernetes.io/hostname"

// spreadsOverNodes reports whether a constraint of pod spreads the pods
// with podLabels over nodes.
func spreadsOverNodes(pod *corev1.PodSpec, podLabels map[string]string) bool {
	for _, c := range pod.TopologySpreadConstraints {
		if c.TopologyKey != hostnameKey || c.LabelSelector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}

// resourceOne is the default divisor of a resourceFieldRef.
var resourceOne = resource.MustParse("1")

// checkDeployment applies the runtime policy to a Deployment.
func checkDeployment(o *object) []Problem {
	d := o.value.(*appsv1.Deployment)
	pod := &d.Spec.Template.Spec
	tpl := []any{"spec", "template", "spec"}
	var problems []Problem
	add := func(path []any, format string, args ...any) {
		problems = append(problems, o.problem(path, format, args...))
	}

	// Rollout: never remove a serving pod before its replacement is ready.
	strategy := []any{"spec", "strategy"}
	switch ru := d.Spec.Strategy.RollingUpdate; {
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		add(append(strategy, "type"), "strategy is Recreate, which stops every pod before starting new ones: use RollingUpdate with maxUnavailable 0")
	case ru == nil || ru.MaxUnavailable == nil:
		add(strategy, "spec.strategy.rollingUpdate.maxUnavailable is not set, and Kubernetes defaults it to 25%%: set it to 0 so a rollout never removes a serving pod first")
	default:
		at := append(strategy, "rollingUpdate", "maxUnavailable")
		if v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, 100, true); err != nil || v != 0 {
			add(at, "spec.strategy.rollingUpdate.maxUnavailable is %s, want 0 so a rollout never removes a serving pod first", ru.MaxUnavailable.String())
		} else if ru.MaxSurge != nil {
			if v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, 100, true); err == nil && v == 0 {
				add(append(strategy, "rollingUpdate", "maxSurge"), "spec.strategy.rollingUpdate.maxSurge is 0 with maxUnavailable 0: the rollout could never start a new pod; set maxSurge to 1")
			}
		}
	}

	// Rollout timing: a pod counts as available only once it has stayed
	// ready for a while, and a rollout that stops making progress is
	// reported by Kubernetes (ProgressDeadlineExceeded, Degraded in Argo CD)
	// well before the pipeline's verify step gives up waiting.
	verifyTimeout := int32(verify.DefaultTimeout / time.Second)
	verifyDefault := strings.TrimSuffix(verify.DefaultTimeout.String(), "0s") // "10m", not "10m0s"
	if d.Spec.MinReadySeconds == 0 {
		add([]any{"spec"}, "spec.minReadySeconds is not set: set it (e.g. 5) so a new pod counts as available only after staying ready that long, and one that fails right after its first ready answer holds the rollout")
	}
	switch pd := d.Spec.ProgressDeadlineSeconds; {
	case pd == nil:
		add([]any{"spec"}, "spec.progressDeadlineSeconds is not set, and Kubernetes's default of 600s is not under VERIFY_TIMEOUT's %s default: set it well under (e.g. 120) so Kubernetes reports a stuck rollout before the verify step times out", verifyDefault)
	case *pd >= verifyTimeout:
		add([]any{"spec", "progressDeadlineSeconds"}, "spec.progressDeadlineSeconds is %d, not under VERIFY_TIMEOUT's %s default: set it well under (e.g. 120) so Kubernetes reports a stuck rollout before the verify step times out", *pd, verifyDefault)
	case *pd <= d.Spec.MinReadySeconds:
		add([]any{"spec", "progressDeadlineSeconds"}, "spec.progressDeadlineSeconds is %d, not greater than minReadySeconds %d: the API server rejects such a Deployment", *pd, d.Spec.MinReadySeconds)
	}

	// Metrics: Prometheus finds the pods by their annotations.
	tplMeta := []any{"spec", "template", "metadata"}
	annotations := d.Spec.Template.Annotations
	if v := annotations[scrapeAnnotation]; v != "true" {
		add(append(tplMeta, "annotations"), "the pod template's %s annotation is %q, want \"true\" (with %s and %s) so Prometheus scrapes the service's /metrics", scrapeAnnotation, v, scrapePortAnnotation, scrapePathAnnotation)
	}
	if v, ok := annotations[scrapePortAnnotation]; ok && !podHasPort(pod, v) {
		add(append(tplMeta, "annotations", scrapePortAnnotation), "the pod template's %s annotation %q is not a containerPort of the pod: Prometheus would scrape a closed port", scrapePortAnnotation, v)
	}

	// Pull secret: the image is private, so without it every pod sits in
	// ImagePullBackOff.
	found := false
	for _, s := range pod.ImagePullSecrets {
		found = found || s.Name == pullSecret
	}
	if !found {
		add(append(tpl, "imagePullSecrets"), "imagePullSecrets does not name %q: the kubelet cannot pull the private image without it (create it as in docs/runbook.md)", pullSecret)
	}

	// Grace period: longer than the service's own shutdown, or the kubelet
	// kills a pod that is still finishing requests.
	need, needFrom := time.Duration(0), ""
	for i, c := range pod.Containers {
		at := append(tpl, "containers", i, "env")
		drain, err := envDuration(c, "SHUTDOWN_DRAIN", defaultShutdownDrain)
		if err != nil {
			add(at, "container %q: %v", c.Name, err)
		}
		timeout, err := envDuration(c, "SHUTDOWN_TIMEOUT", defaultShutdownTimeout)
		if err != nil {
			add(at, "container %q: %v", c.Name, err)
		}
		if drain+timeout > need {
			need = drain + timeout
			needFrom = fmt.Sprintf("SHUTDOWN_DRAIN %s + SHUTDOWN_TIMEOUT %s of container %q", drain, timeout, c.Name)
		}
	}
	grace := append(tpl, "terminationGracePeriodSeconds")
	switch g := pod.TerminationGracePeriodSeconds; {
	case g == nil:
		add(tpl, "terminationGracePeriodSeconds is not set: set it above %s (%s)", need, needFrom)
	case time.Duration(*g)*time.Second <= need:
		add(grace, "terminationGracePeriodSeconds is %d, want more than %d (%s): the kubelet kills the pod when it runs out, dropping requests still in flight", *g, int64(math.Ceil(need.Seconds())), needFrom)
	}

	// Spread: replicas on one node go down with it, and a drain of that
	// node takes them all at once.
	if (d.Spec.Replicas == nil || *d.Spec.Replicas >= 2) && !spreadsOverNodes(pod, d.Spec.Template.Labels) {
		add(tpl, "topologySpreadConstraints does not spread the pods over nodes: two replicas may share one node and go down with it; add one with topologyKey %s, maxSkew 1, whenUnsatisfiable ScheduleAnyway and a labelSelector matching the pod's labels", hostnameKey)
	}

	for i := range pod.Containers {
		at := append(tpl, "containers", i)
		problems = append(problems, checkContainer(o, at, pod, &pod.Containers[i], true)...)
	}
	for i := range pod.InitContainers {
		at := append(tpl, "initContainers", i)
		problems = append(problems, checkContainer(o, at, pod, &pod.InitContainers[i], false)...)
	}
	if len(pod.Containers) == 0 {
		add(tpl, "the pod template has no containers")
	}
	return problems
}

// checkContainer applies the per-container policy: image, probes (for
// long-running containers), resources and security context.
func checkContainer(o *object, at []any, pod *corev1.PodSpec, c *corev1.Container, serving bool) []Problem {
	var problems []Problem
	add := func(path []any, format string, args ...any) {
		problems = append(problems, o.problem(path, "container %q: "+format, append([]any{c.Name}, args...)...))
	}
	sub := func(keys ...any) []any { return append(append([]any(nil), at...), keys...) }

	if c.Image == "" {
		add(sub("image"), "image is not set")
	}
	if serving {
		for _, p := range []struct {
			field string
			probe *corev1.Probe
			path  string
		}{
			{"livenessProbe", c.LivenessProbe, livenessPath},
			{"readinessProbe", c.ReadinessProbe, readinessPath},
		} {
			switch {
			case p.probe == nil:
				add(at, "no %s: add an httpGet probe on %s", p.field, p.path)
			case p.probe.HTTPGet == nil:
				add(sub(p.field), "%s is not an httpGet probe: probe %s over HTTP", p.field, p.path)
			default:
				if p.probe.HTTPGet.Path != p.path {
					add(sub(p.field, "httpGet", "path"), "%s.httpGet.path is %q, want %q", p.field, p.probe.HTTPGet.Path, p.path)
				}
				if !hasPort(c, p.probe.HTTPGet.Port) {
					add(sub(p.field, "httpGet", "port"), "%s.httpGet.port %s is not a port of the container (%s)", p.field, p.probe.HTTPGet.Port.String(), portList(c))
				}
			}
		}
		// Kubernetes defaults failureThreshold to 3; 1 drops the pod from the
		// Service on the first answer that is slow or lost.
		if p := c.ReadinessProbe; p != nil && p.FailureThreshold != 0 && p.FailureThreshold < minReadinessFailures {
			add(sub("readinessProbe", "failureThreshold"), "readinessProbe.failureThreshold is %d: one slow answer takes the pod out of the Service; set it to %d or more", p.FailureThreshold, minReadinessFailures)
		}
		problems = append(problems, checkGoMemLimit(o, sub, c)...)
	}

	// Requests let the scheduler place the pod; a memory limit keeps a leak
	// from taking the node down. A CPU limit is allowed but not required:
	// it throttles even when the node is idle.
	for _, r := range []struct {
		list  corev1.ResourceList
		field string
		names []corev1.ResourceName
	}{
		{c.Resources.Requests, "requests", []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}},
		{c.Resources.Limits, "limits", []corev1.ResourceName{corev1.ResourceMemory}},
	} {
		for _, name := range r.names {
			if _, ok := r.list[name]; !ok {
				add(sub("resources", r.field), "resources.%s.%s is not set", r.field, name)
			}
		}
	}

	sc, psc := c.SecurityContext, pod.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	// Point at the field that decided the value: the container's, else the
	// pod's, else the container's securityContext where it belongs.
	scAt := func(field ...any) []any {
		if _, ok := find(o.doc, sub(append([]any{"securityContext"}, field...)...)...); ok {
			return sub(append([]any{"securityContext"}, field...)...)
		}
		podAt := append([]any{"spec", "template", "spec", "securityContext"}, field...)
		if _, ok := find(o.doc, podAt...); ok {
			return podAt
		}
		return sub("securityContext")
	}
	if v := pick(sc.RunAsNonRoot, psc.RunAsNonRoot); v == nil || !*v {
		add(scAt("runAsNonRoot"), "securityContext.runAsNonRoot is not true: set it so the kubelet refuses to start the container as root")
	}
	for _, id := range []struct {
		field string
		v     *int64
	}{
		{"runAsUser", pick(sc.RunAsUser, psc.RunAsUser)},
		{"runAsGroup", pick(sc.RunAsGroup, psc.RunAsGroup)},
	} {
		if id.v == nil || *id.v != nonrootID {
			add(scAt(id.field), "securityContext.%s is %s, want %d (the nonroot user of the distroless base image)", id.field, int64String(id.v), nonrootID)
		}
	}
	if v := sc.ReadOnlyRootFilesystem; v == nil || !*v {
		add(scAt("readOnlyRootFilesystem"), "securityContext.readOnlyRootFilesystem is not true: the service writes nothing to its root filesystem")
	}
	if v := sc.AllowPrivilegeEscalation; v == nil || *v {
		add(scAt("allowPrivilegeEscalation"), "securityContext.allowPrivilegeEscalation is not false: set it so no setuid binary can gain privileges")
	}
	dropsAll := false
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			dropsAll = dropsAll || strings.EqualFold(string(d), "ALL")
		}
	}
	if !dropsAll {
		add(scAt("capabilities", "drop"), "securityContext.capabilities.drop does not include ALL: the service needs no Linux capability")
	}
	if v := pick(sc.SeccompProfile, psc.SeccompProfile); v == nil || v.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add(scAt("seccompProfile", "type"), "securityContext.seccompProfile.type is not RuntimeDefault")
	}
	return problems
}

// pick returns the container's setting when set, else the pod's: the
// container-level security context overrides the pod-level one.
func pick[T any](container, pod *T) *T {
	if container != nil {
		return container
	}
	return pod
}

func int64String(v *int64) string {
	if v == nil {
		return "not set"
	}
	return fmt.Sprint(*v)
}

// envDuration reads a duration from the container's literal env, falling
// back to the service's default when the variable is absent or comes from a
// reference the check cannot resolve.
func envDuration(c corev1.Container, name string, def time.Duration) (time.Duration, error) {
	for _, e := range c.Env {
		if e.Name != name || e.ValueFrom != nil {
			continue
		}
		d, err := time.ParseDuration(e.Value)
		if err != nil {
			return def, fmt.Errorf("env %s=%q is not a Go duration such as 5s", name, e.Value)
		}
		return d, nil
	}
	return def, nil
}

// hasPort reports whether port names one of the container's ports, by name
// or by number.
func hasPort(c *corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}

func portList(c *corev1.Container) string {
	if len(c.Ports) == 0 {
		return "it declares no ports"
	}
	var s []string
	for _, p := range c.Ports {
		if p.Name != "" {
			s = append(s, fmt.Sprintf("%s=%d", p.Name, p.ContainerPort))
		} else {
			s = append(s, fmt.Sprint(p.ContainerPort))
		}
	}
	return "ports: " + strings.Join(s, ", ")
}

// checkGoMemLimit makes sure the Go runtime knows the container's memory
// limit: GOMEMLIMIT taken from limits.memory of the container itself through
// the downward API, so the limit has one owner (resources.limits) and the
// runtime collects harder as the heap nears it instead of being OOM-killed.
func checkGoMemLimit(o *object, sub func(...any) []any, c *corev1.Container) []Problem {
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		return nil // reported as a missing limit
	}
	want := fmt.Sprintf("valueFrom.resourceFieldRef {containerName: %s, resource: limits.memory}", c.Name)
	problem := func(path []any, format string, args ...any) []Problem {
		return []Problem{o.problem(path, "container %q: "+format, append([]any{c.Name}, args...)...)}
	}
	for i, e := range c.Env {
		if e.Name != goMemLimit {
			continue
		}
		at := sub("env", i)
		var ref *corev1.ResourceFieldSelector
		if e.ValueFrom != nil {
			ref = e.ValueFrom.ResourceFieldRef
		}
		switch {
		case ref == nil:
			return problem(at, "env %s is not taken from the memory limit: a literal is a second owner of the limit and goes stale when the limit changes; use %s", goMemLimit, want)
		case ref.Resource != "limits.memory":
			return problem(append(at, "valueFrom", "resourceFieldRef", "resource"), "env %s is taken from %s, want limits.memory: the Go runtime's soft limit belongs under the hard one", goMemLimit, ref.Resource)
		case ref.ContainerName != "" && ref.ContainerName != c.Name:
			return problem(append(at, "valueFrom", "resourceFieldRef", "containerName"), "env %s is taken from the memory limit of container %q, not its own: use %s", goMemLimit, ref.ContainerName, want)
		case !ref.Divisor.IsZero() && ref.Divisor.Cmp(resourceOne) != 0:
			return problem(append(at, "valueFrom", "resourceFieldRef", "divisor"), "env %s has divisor %s: the Go runtime reads a bare number as bytes, so the limit would be off by that factor; remove the divisor", goMemLimit, ref.Divisor.String())
		}
		return nil
	}
	return problem(sub("env"), "no env %s: set it from the memory limit (%s) so the Go runtime collects garbage harder before the kernel OOM-kills the container", goMemLimit, want)
}

// podHasPort reports whether port, a number as text, is a containerPort of
// one of the pod's containers.
func podHasPort(pod *corev1.PodSpec, port string) bool {
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		return false
	}
	for i := range pod.Containers {
		if hasPort(&pod.Containers[i], intstr.FromInt32(int32(n))) {
			return true
		}
	}
	return false
}
