package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// stream is one parsed YAML stream: the root node of each document (nil for
// an empty document) and the bytes they were parsed from.
type stream struct {
	src  *source
	docs []*yaml.Node
	// nodes are the document nodes that docs are the roots of.
	nodes []*yaml.Node
}

func parse(in []byte) (*stream, error) {
	st := &stream{src: newSource(in)}
	dec := yaml.NewDecoder(bytes.NewReader(in))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(err)
		}
		var root *yaml.Node
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			root = n.Content[0]
		}
		st.docs = append(st.docs, root)
		st.nodes = append(st.nodes, &n)
	}
	return st, nil
}

// parserProblems are the problems the YAML parser, rather than its scanner,
// reports: yaml.v3 gives their line counted from 0, and leaves it out on
// the first line, where the scanner's count from 1.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'", "did not find expected '-' indicator",
	"did not find expected <document start>", "did not find expected <stream-start>", "did not find expected key",
	"did not find expected node content", "found duplicate %TAG directive", "found duplicate %YAML directive",
	"found incompatible YAML document", "found undefined tag handle",
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// syntaxError reads a decoding error of yaml.v3 as a SyntaxError whose
// line counts from 1, as editors and the YAML spec do.
func syntaxError(err error) *SyntaxError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &SyntaxError{Problem: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Problem = strings.TrimPrefix(msg, m[0])
	}
	if slices.Contains(parserProblems, e.Problem) {
		e.Line++
	}
	return e
}

// templatePaths says where each workload kind keeps its pod template. A Pod
// is its own template.
var templatePaths = map[string][]string{
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
	"Pod":                   {},
}

// target is the one place a Change applies to.
type target struct {
	doc      int
	workload string
	// Workload targets.
	template      *yaml.Node
	templatePath  []any
	container     *yaml.Node
	containerPath []any
	// Kustomization targets.
	kustomize *kustomizeEntry
}

// kustomizeEntry is one element of a kustomization's images list.
type kustomizeEntry struct {
	node *yaml.Node
	path []any
}

func (k *kustomizeEntry) field(name string) string {
	if _, v := lookup(k.node, name); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func (k *kustomizeEntry) image() string {
	ref := k.field("newName")
	if ref == "" {
		ref = k.field("name")
	}
	if tag := k.field("newTag"); tag != "" {
		ref += ":" + tag
	}
	if d := k.field("digest"); d != "" {
		ref += "@" + d
	}
	return ref
}

// Located is the workload of a manifest that holds a container, as YAML
// nodes, for callers that rewrite a manifest as a whole rather than one
// value in place (the podman runner adapts a Deployment to run on one
// machine). Changing the nodes changes Docs.
type Located struct {
	// Docs are the document nodes of the whole stream, for encoding it again.
	Docs []*yaml.Node
	// Kind is the workload's kind, e.g. Deployment.
	Kind string
	// Workload is its root mapping; PodSpec its pod template's spec; and
	// Container the container's mapping.
	Workload, PodSpec, Container *yaml.Node
}

// Locate finds the single workload of in that has a container named
// container, with the same rules and errors as Read.
func Locate(in []byte, container string) (Located, error) {
	st, err := parse(in)
	if err != nil {
		return Located{}, err
	}
	t, err := st.locate(container)
	if err != nil {
		return Located{}, err
	}
	if t.kustomize != nil {
		return Located{}, fmt.Errorf("%w: container %q is named in a kustomization's images, not in a workload", ErrNoWorkload, container)
	}
	root := st.docs[t.doc]
	_, podSpec := lookup(t.template, "spec")
	return Located{Docs: st.nodes, Kind: scalarAt(root, "kind"), Workload: root, PodSpec: podSpec, Container: t.container}, nil
}

// Lookup follows keys through mappings from n and returns the value node,
// or nil where a step is missing.
func Lookup(n *yaml.Node, keys ...string) *yaml.Node {
	_, v := lookup(n, keys...)
	return v
}

// Scalar is the value of the scalar reached from n by keys, or "".
func Scalar(n *yaml.Node, keys ...string) string { return scalarAt(n, keys...) }

// locate finds the single container (or kustomization images entry) named
// container in the stream.
func (st *stream) locate(container string) (*target, error) {
	var (
		found     []*target
		inventory []string // "Deployment/web: app, init migrate" for error messages
	)
	for i, root := range st.docs {
		if root == nil || root.Kind != yaml.MappingNode {
			continue
		}
		kind := scalarAt(root, "kind")
		if _, images := lookup(root, "images"); images != nil && images.Kind == yaml.SequenceNode && (kind == "" || kind == "Kustomization") {
			var names []string
			for j, e := range images.Content {
				name := scalarAt(e, "name")
				if name == "" {
					continue
				}
				names = append(names, name)
				if name == container || strings.HasSuffix(name, "/"+container) {
					found = append(found, &target{
						doc:       i,
						workload:  "Kustomization",
						kustomize: &kustomizeEntry{node: e, path: []any{"images", j}},
					})
				}
			}
			inventory = append(inventory, "Kustomization images: "+orNone(names))
			continue
		}
		path, ok := templatePaths[kind]
		if !ok {
			// Custom workloads (Argo Rollouts, Knative...) often follow the
			// Deployment layout; accept them when they do.
			path = []string{"spec", "template"}
		}
		tpl := root
		if len(path) > 0 {
			_, tpl = lookup(root, path...)
		}
		_, podSpec := lookup(tpl, "spec")
		if podSpec == nil || podSpec.Kind != yaml.MappingNode {
			continue
		}
		_, c := lookup(podSpec, "containers")
		_, ic := lookup(podSpec, "initContainers")
		if (c == nil || c.Kind != yaml.SequenceNode) && (ic == nil || ic.Kind != yaml.SequenceNode) {
			continue
		}
		workload := kind
		if name := scalarAt(root, "metadata", "name"); name != "" {
			workload += "/" + name
		}
		tplPath := make([]any, 0, len(path))
		for _, p := range path {
			tplPath = append(tplPath, p)
		}
		var names []string
		for _, list := range []string{"containers", "initContainers"} {
			_, seq := lookup(podSpec, list)
			if seq == nil || seq.Kind != yaml.SequenceNode {
				continue
			}
			for j, cn := range seq.Content {
				name := scalarAt(cn, "name")
				if name == "" {
					continue
				}
				if list == "initContainers" {
					names = append(names, "init "+name)
				} else {
					names = append(names, name)
				}
				if name != container {
					continue
				}
				found = append(found, &target{
					doc:           i,
					workload:      workload,
					template:      tpl,
					templatePath:  tplPath,
					container:     cn,
					containerPath: append(append(append([]any{}, tplPath...), "spec", list), j),
				})
			}
		}
		inventory = append(inventory, workload+": "+orNone(names))
	}

	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		where := make([]string, len(found))
		for i, t := range found {
			where[i] = fmt.Sprintf("%s (document %d)", t.workload, t.doc+1)
		}
		return nil, fmt.Errorf("%w: container %q is in %s: keep one such workload per file or give the containers distinct names",
			ErrAmbiguous, container, strings.Join(where, " and "))
	case len(inventory) == 0:
		return nil, fmt.Errorf("%w: none of %d documents is a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Pod with containers, or a kustomization with images",
			ErrNoWorkload, len(st.docs))
	default:
		return nil, fmt.Errorf("%w: no container %q; found %s", ErrContainerNotFound, container, strings.Join(inventory, "; "))
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// lookup walks block or flow mappings along keys and returns the last key
// node and its value, or nils when a step is missing. Aliases are not
// followed: a value reached through an alias is shared, and editing it would
// edit every place that refers to it.
func lookup(n *yaml.Node, keys ...string) (key, value *yaml.Node) {
	value = n
	for _, k := range keys {
		if value == nil || value.Kind != yaml.MappingNode {
			return nil, nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(value.Content); i += 2 {
			if kn := value.Content[i]; kn.Kind == yaml.ScalarNode && kn.Value == k {
				key, next = kn, value.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil, nil
		}
		value = next
	}
	return key, value
}

func scalarAt(n *yaml.Node, keys ...string) string {
	if _, v := lookup(n, keys...); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}
