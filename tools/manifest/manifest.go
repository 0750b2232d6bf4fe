// Package manifest edits Kubernetes manifests as bytes: it sets the image of
// one named container (and the source commit recorded next to it) and leaves
// every other byte of the file as it was, so a gitops diff shows the one line
// that changed and nothing else.
//
// The YAML node tree is used only to locate values; the new text is spliced
// into the original bytes. Comments, key order, quoting, blank lines and
// document separators therefore survive an edit.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// SourceCommitAnnotation is the pod-template annotation that records which
// source commit the image was built from.
const SourceCommitAnnotation = "platform-demo.dev/source-commit"

// Errors a caller can test for with errors.Is. The returned errors wrap them
// with the details (line numbers, names found).
var (
	// ErrNotYAML means the input does not parse as a YAML stream.
	ErrNotYAML = errors.New("not YAML")
	// ErrNoWorkload means no document has a pod template (Deployment,
	// StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod) or a
	// kustomization images list.
	ErrNoWorkload = errors.New("no workload")
	// ErrContainerNotFound means workloads exist but none has a container of
	// that name; the message lists the names that were found.
	ErrContainerNotFound = errors.New("container not found")
	// ErrAmbiguous means the container name occurs in several workloads.
	ErrAmbiguous = errors.New("ambiguous container")
	// ErrUnsupported means the value exists but is written in a form that
	// cannot be replaced without rewriting its neighbours (an alias, a block
	// scalar, a multi-line plain scalar).
	ErrUnsupported = errors.New("unsupported layout")
)

// SyntaxError is a manifest that does not parse as YAML. errors.Is(err,
// ErrNotYAML) reports it.
type SyntaxError struct {
	// Line is the 1-based line the parser stopped at; 0 when it does not
	// say.
	Line int
	// Problem is what the parser found there.
	Problem string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%v: line %d: %s", ErrNotYAML, e.Line, e.Problem)
	}
	return fmt.Sprintf("%v: %s", ErrNotYAML, e.Problem)
}

// Is reports ErrNotYAML.
func (e *SyntaxError) Is(target error) bool { return target == ErrNotYAML }

// Change says what to set. Empty fields are left as they are.
type Change struct {
	// Container is the name of the container to edit. In a kustomization
	// it selects the images entry whose name is Container or ends in
	// "/"+Container.
	Container string
	// Image is the new image reference, e.g.
	// "ghcr.io/org/app:abc1234@sha256:...".
	Image string
	// SourceCommit is recorded in the SourceCommitAnnotation of the pod
	// template that holds the container (commonAnnotations in a
	// kustomization).
	SourceCommit string
	// Annotations are set on the workload's own metadata, not on its pod
	// template, so that changing them restarts nothing (in a kustomization,
	// on the kustomization's metadata, which kustomize does not render).
	// The pipeline records its verdicts there. Keys are Kubernetes
	// annotation keys; values are one line.
	Annotations map[string]string
}

// Current is what a manifest holds for one container.
type Current struct {
	// Image is the image reference of the container; in a kustomization it
	// is assembled from newName (or name), newTag and digest.
	Image string
	// SourceCommit is the value of SourceCommitAnnotation, empty when absent.
	SourceCommit string
	// Workload names where the container was found, e.g.
	// "Deployment/platform-demo" or "Kustomization".
	Workload string
	// Annotations are the string annotations of the workload's own
	// metadata (see Change.Annotations); nil when it has none.
	Annotations map[string]string
}

// SetImage sets the image of the named container and reports whether the
// bytes changed.
func SetImage(in []byte, container, image string) (out []byte, changed bool, err error) {
	if image == "" {
		return nil, false, fmt.Errorf("set image of container %q: empty image", container)
	}
	return Edit(in, Change{Container: container, Image: image})
}

// Edit applies c to the manifest in and reports whether the bytes changed.
// When nothing changes, out is in. Applying the same change twice yields
// the same bytes as applying it once.
func Edit(in []byte, c Change) (out []byte, changed bool, err error) {
	if c.Container == "" {
		return nil, false, errors.New("edit manifest: empty container name")
	}
	if c.Image != "" && !validValue(c.Image) {
		return nil, false, fmt.Errorf("edit manifest: image %q contains spaces or control characters", c.Image)
	}
	if c.SourceCommit != "" && !validValue(c.SourceCommit) {
		return nil, false, fmt.Errorf("edit manifest: source commit %q contains spaces or control characters", c.SourceCommit)
	}
	st, err := parse(in)
	if err != nil {
		return nil, false, err
	}
	t, err := st.locate(c.Container)
	if err != nil {
		return nil, false, err
	}
	var steps []step
	if c.Image != "" {
		if t.kustomize != nil {
			steps = append(steps, kustomizeImageSteps(c.Container, c.Image)...)
		} else {
			steps = append(steps, containerImageStep(c.Container, c.Image))
		}
	}
	if c.SourceCommit != "" {
		steps = append(steps, sourceCommitStep(c.Container, c.SourceCommit))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Annotations)) {
		if err := checkAnnotation(k, c.Annotations[k]); err != nil {
			return nil, false, err
		}
		steps = append(steps, annotationStep(c.Container, k, c.Annotations[k]))
	}

	out = in
	var ops []op
	for _, s := range steps {
		st, err := parse(out)
		if err != nil {
			return nil, false, fmt.Errorf("%w: re-parse after edit: %v", ErrUnsupported, err)
		}
		e, o, err := s(st)
		if err != nil {
			return nil, false, err
		}
		if e == nil {
			continue
		}
		out = e.apply(out)
		ops = append(ops, o)
	}
	if len(ops) == 0 || bytes.Equal(out, in) {
		return in, false, nil
	}
	if err := verify(in, out, ops); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// Read returns the image and recorded source commit of the named container.
func Read(in []byte, container string) (Current, error) {
	st, err := parse(in)
	if err != nil {
		return Current{}, err
	}
	t, err := st.locate(container)
	if err != nil {
		return Current{}, err
	}
	cur := Current{Workload: t.workload, Annotations: annotations(st.docs[t.doc])}
	if k := t.kustomize; k != nil {
		cur.Image = k.image()
		if _, v := lookup(st.docs[t.doc], "commonAnnotations", SourceCommitAnnotation); v != nil && v.Kind == yaml.ScalarNode {
			cur.SourceCommit = v.Value
		}
		return cur, nil
	}
	if _, v := lookup(t.container, "image"); v != nil && v.Kind == yaml.ScalarNode {
		cur.Image = v.Value
	}
	if _, v := lookup(t.template, "metadata", "annotations", SourceCommitAnnotation); v != nil && v.Kind == yaml.ScalarNode {
		cur.SourceCommit = v.Value
	}
	return cur, nil
}

// annotations returns the string values of the document's
// metadata.annotations.
func annotations(doc *yaml.Node) map[string]string {
	_, m := lookup(doc, "metadata", "annotations")
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k, v := m.Content[i], m.Content[i+1]; k.Kind == yaml.ScalarNode && v.Kind == yaml.ScalarNode {
			out[k.Value] = v.Value
		}
	}
	return out
}

// annotationKey is a Kubernetes annotation key: an optional DNS prefix and
// a slash, then a name of at most 63 characters.
var annotationKey = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// checkAnnotation refuses a key Kubernetes would refuse, and a value that
// is not one line of text.
func checkAnnotation(key, value string) error {
	if !annotationKey.MatchString(key) {
		return fmt.Errorf("edit manifest: %q is not an annotation key (prefix/name, lower-case DNS prefix, name of at most 63 characters)", key)
	}
	if !utf8.ValidString(value) || strings.ContainsFunc(value, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\ufeff' }) {
		return fmt.Errorf("edit manifest: annotation %s: value %q is not one line of text", key, value)
	}
	return nil
}

// validValue rejects values that could only be written as multi-line or
// escaped YAML; image references and commit shas never need that.
func validValue(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\ufeff'
	})
}
