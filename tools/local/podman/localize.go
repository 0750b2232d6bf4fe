package podman

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// loopbackIP is the only host address Play publishes ports on.
const loopbackIP = "127.0.0.1"

// defaultGrace is Kubernetes' terminationGracePeriodSeconds default.
const defaultGrace = 30

// local says how a Deployment is made to run under podman on one machine.
type local struct {
	// container is the container whose port is published.
	container string
	// image replaces that container's image; empty keeps it.
	image string
	// name replaces the Deployment's name, which podman derives the pod
	// name from; empty keeps it.
	name string
	// containerPort is the port of container that hostPort publishes.
	containerPort int
	// hostPort is the loopback port it is published on.
	hostPort int
}

// localized is a manifest rewritten by localize.
type localized struct {
	// manifest is the rewritten YAML stream.
	manifest []byte
	// image is the container's image after the rewrite.
	image string
	// name is the Deployment's name after the rewrite.
	name string
	// grace is the Deployment's terminationGracePeriodSeconds, or
	// Kubernetes' default.
	grace int
	// rewrites says, one line each, what was changed and why.
	rewrites []string
}

// localize rewrites the Deployment that holds l.container so that podman 4.3's
// `kube play` runs it the way the manifest means it on one machine. Each
// rewrite answers a difference measured with podman 4.3:
//
//   - the image is the locally published one;
//   - replicas becomes 1: podman creates one pod per replica, and every pod
//     publishes the same host port, so the second one fails to start;
//   - the served port gets hostPort and hostIP 127.0.0.1, and every other
//     port hostIP 127.0.0.1: podman publishes each containerPort on
//     0.0.0.0:<containerPort> when hostPort is absent;
//   - httpGet and tcpSocket liveness probes are removed: podman turns them
//     into a healthcheck that runs curl (or nc) inside the container, with a
//     named port resolved to 0, and restarts the container when it fails; a
//     static image has neither tool, so the check can never pass;
//   - an env var from valueFrom.resourceFieldRef whose containerName names
//     another container gets the literal the kubelet would give it: podman
//     resolves resourceFieldRef itself (divisor and rounding as the kubelet
//     does), but from the resources of the container the variable belongs
//     to, whatever containerName says. A reference to the container's own
//     resources, like GOMEMLIMIT from limits.memory, is passed through.
//
// Everything else, the securityContext first of all, is passed through, and
// documents other than that Deployment are left as they are.
func localize(in []byte, l local) (localized, error) {
	if l.container == "" {
		return localized{}, errors.New("localize manifest: empty container name")
	}
	if l.hostPort < 1 || l.hostPort > 65535 {
		return localized{}, fmt.Errorf("localize manifest: host port %d out of range", l.hostPort)
	}
	var res localized
	if l.image != "" {
		out, changed, err := manifest.SetImage(in, l.container, l.image)
		if err != nil {
			return localized{}, fmt.Errorf("localize manifest: %w", err)
		}
		in = out
		if changed {
			res.rewrites = append(res.rewrites, fmt.Sprintf("image of container %s: %s (the locally published image)", l.container, l.image))
		}
	}

	loc, err := manifest.Locate(in, l.container)
	if err != nil {
		return localized{}, fmt.Errorf("localize manifest: %w", err)
	}
	if loc.Kind != "Deployment" {
		return localized{}, fmt.Errorf("localize manifest: container %q is in a %s, not a Deployment", l.container, loc.Kind)
	}
	dep, pod, target := loc.Workload, loc.PodSpec, loc.Container
	res.image = scalar(target, "image")

	meta := lookup(dep, "metadata")
	res.name = scalar(meta, "name")
	if l.name != "" && l.name != res.name {
		set(meta, "name", l.name, "!!str")
		res.rewrites = append(res.rewrites, fmt.Sprintf("metadata.name: %s (podman names the pod after it)", l.name))
		res.name = l.name
	}
	if res.name == "" {
		return localized{}, errors.New("localize manifest: the Deployment has no metadata.name")
	}

	res.grace = defaultGrace
	if g := scalar(pod, "terminationGracePeriodSeconds"); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || n < 0 {
			return localized{}, fmt.Errorf("localize manifest: terminationGracePeriodSeconds %q is not a whole number of seconds", g)
		}
		res.grace = n
	}

	spec := lookup(dep, "spec")
	if r := scalar(spec, "replicas"); r != "" && r != "1" {
		set(spec, "replicas", "1", "!!int")
		res.rewrites = append(res.rewrites, fmt.Sprintf("replicas: 1, was %s (podman starts one pod per replica, all on the same host port)", r))
	}

	published := false
	for _, list := range []string{"initContainers", "containers"} {
		seq := lookup(pod, list)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for _, c := range seq.Content {
			name := scalar(c, "name")
			if ports := lookup(c, "ports"); ports != nil && ports.Kind == yaml.SequenceNode {
				for _, p := range ports.Content {
					cp := scalar(p, "containerPort")
					if c == target && cp == strconv.Itoa(l.containerPort) && !published {
						published = true
						if scalar(p, "hostPort") == strconv.Itoa(l.hostPort) && scalar(p, "hostIP") == loopbackIP {
							continue
						}
						set(p, "hostPort", strconv.Itoa(l.hostPort), "!!int")
						set(p, "hostIP", loopbackIP, "!!str")
						res.rewrites = append(res.rewrites, fmt.Sprintf("port %s of container %s: hostPort %d, hostIP %s (the published address)", cp, name, l.hostPort, loopbackIP))
						continue
					}
					if scalar(p, "hostIP") != loopbackIP {
						set(p, "hostIP", loopbackIP, "!!str")
						res.rewrites = append(res.rewrites, fmt.Sprintf("port %s of container %s: hostIP %s (podman publishes every containerPort, on every interface unless told)", cp, name, loopbackIP))
					}
				}
			}
			if probe := lookup(c, "livenessProbe"); probe != nil && (lookup(probe, "httpGet") != nil || lookup(probe, "tcpSocket") != nil) {
				remove(c, "livenessProbe")
				res.rewrites = append(res.rewrites, fmt.Sprintf("livenessProbe of container %s: removed (podman runs it as curl or nc inside the container and restarts the container when it fails)", name))
			}
			rewrites, err := pinForeignResourceRefs(c, name, pod)
			if err != nil {
				return localized{}, fmt.Errorf("localize manifest: %w", err)
			}
			res.rewrites = append(res.rewrites, rewrites...)
		}
	}
	if !published {
		return localized{}, fmt.Errorf("localize manifest: container %q declares no containerPort %d: add it to its ports, or set Options.ContainerPort to the port it serves on", l.container, l.containerPort)
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, doc := range loc.Docs {
		if err := enc.Encode(doc); err != nil {
			return localized{}, fmt.Errorf("localize manifest: encode YAML: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return localized{}, fmt.Errorf("localize manifest: encode YAML: %w", err)
	}
	res.manifest = buf.Bytes()
	return res, nil
}

// pinForeignResourceRefs replaces each env var of container c (named name)
// whose valueFrom.resourceFieldRef reads another container's resources with
// the literal value the kubelet would give, and says so, one line each. pod
// is the pod spec that holds c.
func pinForeignResourceRefs(c *yaml.Node, name string, pod *yaml.Node) ([]string, error) {
	env := lookup(c, "env")
	if env == nil || env.Kind != yaml.SequenceNode {
		return nil, nil
	}
	var rewrites []string
	for _, e := range env.Content {
		ref := lookup(e, "valueFrom", "resourceFieldRef")
		if ref == nil {
			continue
		}
		other := scalar(ref, "containerName")
		if other == "" || other == name {
			continue
		}
		// The typed values give the resources as the kubelet reads them.
		var (
			sel   corev1.ResourceFieldSelector
			typed corev1.PodSpec
		)
		if err := decodeNode(ref, &sel); err != nil {
			return nil, fmt.Errorf("env %s of container %s: %w", scalar(e, "name"), name, err)
		}
		if err := decodeNode(pod, &typed); err != nil {
			return nil, fmt.Errorf("env %s of container %s: %w", scalar(e, "name"), name, err)
		}
		v, err := rollout.ResourceFieldValue(typed, name, sel)
		if err != nil {
			return nil, fmt.Errorf("env %s of container %s: %w", scalar(e, "name"), name, err)
		}
		remove(e, "valueFrom")
		set(e, "value", v, "!!str")
		rewrites = append(rewrites, fmt.Sprintf("env %s of container %s: value %s, the kubelet's %s of container %s (podman 4.3 reads resourceFieldRef from the container itself, whatever containerName says)", scalar(e, "name"), name, v, sel.Resource, other))
	}
	return rewrites, nil
}

// decodeNode decodes a YAML node into a Kubernetes API type, which reads
// its fields by their JSON names.
func decodeNode(n *yaml.Node, v any) error {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode YAML: %w", err)
	}
	if err := sigsyaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// lookup follows keys through mappings and returns the value node, or nil.
func lookup(n *yaml.Node, keys ...string) *yaml.Node { return manifest.Lookup(n, keys...) }

// scalar is the value of the scalar at key in mapping n, or "".
func scalar(n *yaml.Node, key string) string { return manifest.Scalar(n, key) }

// set gives key the scalar value with tag (!!str or !!int) in mapping m,
// adding the key at the end when it is missing. The tag makes the encoder
// quote a string that would otherwise read as a number.
func set(m *yaml.Node, key, value, tag string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			*v = yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value, LineComment: v.LineComment}
			return
		}
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value})
}

// remove deletes key from mapping m.
func remove(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
