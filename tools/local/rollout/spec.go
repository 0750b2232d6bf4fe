package rollout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	goyaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// Spec is what the local rollout runs: one container of a workload.
type Spec struct {
	// Image is the container's image reference.
	Image string
	// Env holds the container's environment as KEY=value: literal values,
	// and values from the container's resources (valueFrom.resourceFieldRef)
	// resolved as the kubelet would.
	Env []string
	// Args are the container's args, passed to the image's entrypoint.
	Args []string
}

// SpecFromManifest finds the named container in a (possibly multi-document)
// manifest, in whatever workload holds it (a Deployment, a StatefulSet...:
// manifest.Locate, the same reader as the bump's). An env var whose value
// comes from anything but the pod's resources (a Secret, a ConfigMap, a pod
// field) is an error that names it: the local rollout has no cluster to read
// it from.
func SpecFromManifest(in []byte, container string) (Spec, error) {
	loc, err := manifest.Locate(in, container)
	if err != nil {
		return Spec{}, err
	}
	// The pod spec decodes as the API server reads it: through JSON, with
	// the Kubernetes types.
	raw, err := goyaml.Marshal(loc.PodSpec)
	if err != nil {
		return Spec{}, fmt.Errorf("read the pod spec of %s: %w", loc.Kind, err)
	}
	var pod corev1.PodSpec
	if err := yaml.Unmarshal(raw, &pod); err != nil {
		return Spec{}, fmt.Errorf("decode the pod spec of %s: %w", loc.Kind, err)
	}
	i := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == container })
	if i < 0 {
		return Spec{}, fmt.Errorf("container %q is not a container of the %s's pod (an init container does not serve): set GITOPS_CONTAINER", container, loc.Kind)
	}
	c := pod.Containers[i]
	if len(c.Command) > 0 {
		return Spec{}, fmt.Errorf("container %q sets command, which the local rollout does not run: it runs the image's entrypoint with args", container)
	}
	s := Spec{Image: c.Image, Args: c.Args}
	for _, e := range c.Env {
		v, err := envValue(pod, c, e)
		if err != nil {
			return Spec{}, fmt.Errorf("env %s of container %q: %w", e.Name, container, err)
		}
		s.Env = append(s.Env, e.Name+"="+v)
	}
	if s.Image == "" {
		return Spec{}, fmt.Errorf("container %q has no image", container)
	}
	return s, nil
}

// envValue is the value the kubelet gives the env var e of container c.
func envValue(pod corev1.PodSpec, c corev1.Container, e corev1.EnvVar) (string, error) {
	src := e.ValueFrom
	switch {
	case src == nil:
		return e.Value, nil
	case src.ResourceFieldRef != nil:
		return ResourceFieldValue(pod, c.Name, *src.ResourceFieldRef)
	}
	from := "valueFrom"
	switch {
	case src.SecretKeyRef != nil:
		from = "valueFrom.secretKeyRef"
	case src.ConfigMapKeyRef != nil:
		from = "valueFrom.configMapKeyRef"
	case src.FieldRef != nil:
		from = "valueFrom.fieldRef"
	}
	return "", fmt.Errorf("uses %s, which the local rollout cannot resolve: give it a literal value", from)
}

// ResourceFieldValue returns what the kubelet writes into an env var of
// container (a container of pod) whose valueFrom.resourceFieldRef is ref:
// the named request or limit of ref.ContainerName (container itself when
// empty), divided by ref.Divisor (1 when unset) and rounded up, in decimal.
// CPU is counted in millicores before dividing, so limits.cpu 500m gives 1,
// or 500 with divisor 1m; memory in bytes, so limits.memory 64Mi gives
// 67108864. A request that is not set falls back to the limit, as the API
// server defaults it. A limit that is not set is an error: the kubelet would
// give the node's allocatable amount, which only the node knows.
func ResourceFieldValue(pod corev1.PodSpec, container string, ref corev1.ResourceFieldSelector) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("resourceFieldRef %s: "+format, append([]any{ref.Resource}, args...)...)
	}
	name := ref.ContainerName
	if name == "" {
		name = container
	}
	var target *corev1.Container
	for _, list := range [][]corev1.Container{pod.Containers, pod.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				target = &list[i]
			}
		}
	}
	if target == nil {
		return fail("containerName %q is not a container of the pod", name)
	}
	kind, res, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return fail("not a container resource: want limits.<resource> or requests.<resource>")
	}
	rn := corev1.ResourceName(res)
	divisors, known := validDivisors[rn]
	if !known {
		return fail("resource %s is not one the downward API exposes (cpu, memory, ephemeral-storage)", res)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if !divisors[divisor.String()] {
		return fail("divisor %s is not one the API server accepts for %s", divisor.String(), res)
	}
	q, set := target.Resources.Limits[rn]
	if kind == "requests" {
		if r, ok := target.Resources.Requests[rn]; ok {
			q, set = r, true
		} else if !set {
			q, set = resource.Quantity{}, true // neither: the kubelet reports 0
		}
	}
	if !set {
		return fail("container %q sets no limits.%s, and the kubelet would give the node's allocatable %s: set the limit", name, res, res)
	}
	value, unit := q.Value(), divisor.Value()
	if rn == corev1.ResourceCPU {
		value, unit = q.MilliValue(), divisor.MilliValue()
	}
	// The kubelet rounds up: a limit of 1.5 cores with divisor 1 gives 2.
	n := value / unit
	if value%unit != 0 && value > 0 {
		n++
	}
	return strconv.FormatInt(n, 10), nil
}

// validDivisors are the divisors the API server accepts in a
// resourceFieldRef, by resource.
var validDivisors = func() map[corev1.ResourceName]map[string]bool {
	sizes := map[string]bool{}
	for _, d := range []string{"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"} {
		sizes[d] = true
	}
	return map[corev1.ResourceName]map[string]bool{
		corev1.ResourceCPU:              {"1": true, "1m": true},
		corev1.ResourceMemory:           sizes,
		corev1.ResourceEphemeralStorage: sizes,
	}
}()
