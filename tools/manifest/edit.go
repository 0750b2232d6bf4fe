package manifest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// op is the intended effect of one edit on the decoded document. verify
// replays the ops on the decoded input and requires the decoded output to
// match exactly, so a splice that lands in the wrong place is an error, not
// a corrupted manifest.
type op struct {
	doc   int
	path  []any // string keys and int indexes from the document root
	value string
	del   bool
}

// step computes one edit on a freshly parsed stream; a nil edit means the
// value is already as wanted. Steps run one after another so that each one
// sees the positions left by the previous.
type step func(st *stream) (*edit, op, error)

func containerImageStep(container, image string) step {
	return func(st *stream) (*edit, op, error) {
		t, err := st.locate(container)
		if err != nil {
			return nil, op{}, err
		}
		e, err := st.ensure(t.doc, nil, t.container, []string{"image"}, image)
		if err != nil {
			return nil, op{}, fmt.Errorf("set image of container %q in %s: %w", container, t.workload, err)
		}
		return e, op{doc: t.doc, path: appendPath(t.containerPath, "image"), value: image}, nil
	}
}

func sourceCommitStep(container, commit string) step {
	return func(st *stream) (*edit, op, error) {
		t, err := st.locate(container)
		if err != nil {
			return nil, op{}, err
		}
		node, base, keys := t.template, t.templatePath, []string{"metadata", "annotations", SourceCommitAnnotation}
		if t.kustomize != nil {
			// Kustomize copies commonAnnotations onto pod templates, so the
			// live object carries the same annotation as a plain manifest.
			node, base, keys = st.docs[t.doc], nil, []string{"commonAnnotations", SourceCommitAnnotation}
		}
		e, err := st.ensure(t.doc, nil, node, keys, commit)
		if err != nil {
			return nil, op{}, fmt.Errorf("record source commit in %s: %w", t.workload, err)
		}
		path := base
		for _, k := range keys {
			path = appendPath(path, k)
		}
		return e, op{doc: t.doc, path: path, value: commit}, nil
	}
}

// annotationStep sets an annotation of the workload's own metadata (the
// kustomization's, in a kustomization): never the pod template's, so that
// it restarts nothing.
func annotationStep(container, key, value string) step {
	return func(st *stream) (*edit, op, error) {
		t, err := st.locate(container)
		if err != nil {
			return nil, op{}, err
		}
		keys := []string{"metadata", "annotations", key}
		e, err := st.ensure(t.doc, nil, st.docs[t.doc], keys, value)
		if err != nil {
			return nil, op{}, fmt.Errorf("set annotation %s of %s: %w", key, t.workload, err)
		}
		return e, op{doc: t.doc, path: []any{"metadata", "annotations", key}, value: value}, nil
	}
}

// kustomizeImageSteps set newName, newTag and digest of a kustomization
// images entry from one reference.
func kustomizeImageSteps(container, image string) []step {
	repo, tag, digest := splitRef(image)
	field := func(name, value string) step {
		return func(st *stream) (*edit, op, error) {
			t, err := st.locate(container)
			if err != nil {
				return nil, op{}, err
			}
			k := t.kustomize
			path := appendPath(k.path, name)
			if name == "newName" && k.field("newName") == "" && repo == k.field("name") {
				return nil, op{}, nil
			}
			if value == "" {
				e, err := st.remove(k.node, name)
				if err != nil {
					return nil, op{}, fmt.Errorf("remove %s from images entry %q: %w", name, k.field("name"), err)
				}
				return e, op{doc: t.doc, path: path, del: true}, nil
			}
			e, err := st.ensure(t.doc, nil, k.node, []string{name}, value)
			if err != nil {
				return nil, op{}, fmt.Errorf("set %s of images entry %q: %w", name, k.field("name"), err)
			}
			return e, op{doc: t.doc, path: path, value: value}, nil
		}
	}
	return []step{field("newName", repo), field("newTag", tag), field("digest", digest)}
}

// splitRef splits "repo:tag@digest" into its parts; tag and digest may be
// empty.
func splitRef(ref string) (repo, tag, digest string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i+1:], "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	return ref, tag, digest
}

func appendPath(base []any, elem any) []any {
	return append(append(make([]any, 0, len(base)+1), base...), elem)
}

// ensure makes the value at keys below n equal to value, creating missing
// mappings. key is the mapping key whose value is n (nil at the top).
func (st *stream) ensure(doc int, key, n *yaml.Node, keys []string, value string) (*edit, error) {
	src := st.src
	switch {
	case n == nil:
		return nil, fmt.Errorf("%w: missing parent mapping", ErrUnsupported)
	case n.Kind == yaml.AliasNode:
		return nil, fmt.Errorf("%w: value at line %d is an alias (*%s); edit the anchor it refers to", ErrUnsupported, n.Line, n.Value)
	case len(keys) == 0:
		if n.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%w: value at line %d is a mapping or list, not a single value", ErrUnsupported, n.Line)
		}
		if n.Value == value && n.ShortTag() == "!!str" {
			return nil, nil
		}
		if isImplicitNull(n) {
			return st.fillAfterColon(key, " "+renderScalar(value, 0))
		}
		start, end, err := src.scalarSpan(n)
		if err != nil {
			return nil, err
		}
		return &edit{start: start, end: end, text: renderScalar(value, n.Style)}, nil
	case n.Kind == yaml.MappingNode:
		if k, v := lookup(n, keys[0]); v != nil {
			return st.ensure(doc, k, v, keys[1:], value)
		}
		return st.insert(doc, n, keys, value)
	case isImplicitNull(n):
		// "annotations:" followed by nothing: write the entries below it.
		if key == nil {
			return nil, fmt.Errorf("%w: empty document", ErrUnsupported)
		}
		_, kend, err := src.scalarSpan(key)
		if err != nil {
			return nil, err
		}
		colon := skipBlanks(src.b, kend)
		if colon < len(src.b) && src.b[colon] == ':' && src.restIsBlank(colon+1) {
			indent := key.Column - 1 + st.step(doc)
			lines := renderBlock(keys, value, indent, st.step(doc), src.nl)
			if next := src.nextLine(colon); next >= 0 {
				return &edit{start: next, end: next, text: lines}, nil
			}
			return &edit{start: len(src.b), end: len(src.b), text: src.nl + strings.TrimSuffix(lines, src.nl)}, nil
		}
		return st.fillAfterColon(key, " {"+renderFlow(keys, value)+"}")
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		// "annotations: null" or "annotations: ~".
		start, end, err := src.scalarSpan(n)
		if err != nil {
			return nil, err
		}
		return &edit{start: start, end: end, text: "{" + renderFlow(keys, value) + "}"}, nil
	default:
		return nil, fmt.Errorf("%w: value at line %d should be a mapping with %q", ErrUnsupported, n.Line, keys[0])
	}
}

// fillAfterColon writes text right after the colon that follows key, for a
// key whose value is empty.
func (st *stream) fillAfterColon(key *yaml.Node, text string) (*edit, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: empty value without a key", ErrUnsupported)
	}
	_, kend, err := st.src.scalarSpan(key)
	if err != nil {
		return nil, err
	}
	colon := skipBlanks(st.src.b, kend)
	if colon >= len(st.src.b) || st.src.b[colon] != ':' {
		return nil, fmt.Errorf("%w: key at line %d is not followed by a colon", ErrUnsupported, key.Line)
	}
	return &edit{start: colon + 1, end: colon + 1, text: text}, nil
}

// insert adds keys (nested) with value to mapping m, which lacks keys[0].
func (st *stream) insert(doc int, m *yaml.Node, keys []string, value string) (*edit, error) {
	src := st.src
	if m.Style&yaml.FlowStyle != 0 {
		off := src.offset(m.Line, m.Column)
		if off < 0 || off >= len(src.b) || src.b[off] != '{' {
			return nil, fmt.Errorf("%w: flow mapping at line %d", ErrUnsupported, m.Line)
		}
		text := renderFlow(keys, value)
		if len(m.Content) > 0 {
			text += ", "
		}
		return &edit{start: off + 1, end: off + 1, text: text}, nil
	}
	if len(m.Content) < 2 {
		return nil, fmt.Errorf("%w: empty mapping at line %d", ErrUnsupported, m.Line)
	}
	first := m.Content[0]
	lines := renderBlock(keys, value, first.Column-1, st.step(doc), src.nl)

	// A pod template reads metadata first; put a new metadata key there.
	if keys[0] == "metadata" {
		if e := st.insertFirst(m, lines); e != nil {
			return e, nil
		}
	}
	// Append after the last line of the mapping, before trailing blank
	// lines and comments, which usually introduce what follows.
	at, ok := src.blockEnd(m)
	if !ok {
		return nil, fmt.Errorf("%w: cannot add %q to the mapping at line %d", ErrUnsupported, keys[0], m.Line)
	}
	if at < 0 {
		return &edit{start: len(src.b), end: len(src.b), text: src.nl + strings.TrimSuffix(lines, src.nl)}, nil
	}
	return &edit{start: at, end: at, text: lines}, nil
}

// insertFirst inserts lines before the first key of block mapping m, above
// the comment lines that describe that key, or returns nil when the first
// key does not start its line.
func (st *stream) insertFirst(m *yaml.Node, lines string) *edit {
	src := st.src
	first := m.Content[0]
	off := src.offset(first.Line, first.Column)
	if off < 0 || !src.onlyIndentBefore(off) {
		return nil
	}
	at := src.lineStart(off)
	for at > 0 {
		prev := src.lineStart(at - 1)
		line := src.b[prev:at]
		trimmed := bytes.TrimLeft(line, " ")
		if len(line)-len(trimmed) != first.Column-1 || len(trimmed) == 0 || trimmed[0] != '#' {
			break
		}
		at = prev
	}
	return &edit{start: at, end: at, text: lines}
}

// remove deletes the line holding key name of mapping m.
func (st *stream) remove(m *yaml.Node, name string) (*edit, error) {
	k, v := lookup(m, name)
	if v == nil {
		return nil, nil
	}
	src := st.src
	kstart, _, err := src.scalarSpan(k)
	if err != nil {
		return nil, err
	}
	_, vend, err := src.scalarSpan(v)
	if err != nil {
		return nil, err
	}
	if !src.onlyIndentBefore(kstart) || !src.restIsBlank(vend) || m.Content[0] == k {
		return nil, fmt.Errorf("%w: remove the %s line (line %d) by hand", ErrUnsupported, name, k.Line)
	}
	end := src.nextLine(vend)
	if end < 0 {
		end = len(src.b)
	}
	return &edit{start: src.lineStart(kstart), end: end}, nil
}

// step returns the indentation step of document doc: how far a nested
// block mapping is indented below its key (2 when the file shows none).
func (st *stream) step(doc int) int {
	if doc < 0 || doc >= len(st.docs) {
		return 2
	}
	if s := findStep(st.docs[doc]); s > 0 {
		return s
	}
	return 2
}

func findStep(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	switch n.Kind {
	case yaml.MappingNode:
		if n.Style&yaml.FlowStyle != 0 {
			return 0
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && v.Line > k.Line && len(v.Content) > 0 {
				if s := v.Content[0].Column - k.Column; s > 0 {
					return s
				}
			}
			if s := findStep(v); s > 0 {
				return s
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if s := findStep(c); s > 0 {
				return s
			}
		}
	}
	return 0
}

func isImplicitNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Style == 0 && n.Value == "" && n.ShortTag() == "!!null"
}

func skipBlanks(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// renderBlock writes nested block mapping entries, one per line.
func renderBlock(keys []string, value string, indent, step int, nl string) string {
	var sb strings.Builder
	for i, k := range keys {
		sb.WriteString(strings.Repeat(" ", indent+i*step))
		sb.WriteString(renderScalar(k, 0))
		sb.WriteByte(':')
		if i == len(keys)-1 {
			sb.WriteByte(' ')
			sb.WriteString(renderScalar(value, 0))
		}
		sb.WriteString(nl)
	}
	return sb.String()
}

// renderFlow writes nested entries in flow style: "a: {b: value}".
func renderFlow(keys []string, value string) string {
	if len(keys) == 1 {
		return renderScalar(keys[0], 0) + ": " + renderScalar(value, 0)
	}
	return renderScalar(keys[0], 0) + ": {" + renderFlow(keys[1:], value) + "}"
}

// renderScalar writes value as a string scalar in the style the old value
// had: quoted stays quoted the same way, plain stays plain unless the value
// would then read as something other than that string (a number, a bool).
func renderScalar(value string, style yaml.Style) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return strconv.Quote(value)
	case style&yaml.SingleQuotedStyle != 0:
		return "'" + strings.ReplaceAll(value, "'", "''") + "'"
	case plainSafe(value):
		return value
	default:
		return strconv.Quote(value)
	}
}

// plainSafe reports whether value reads back as the same string when
// written unquoted, in block and in flow context.
func plainSafe(value string) bool {
	if value == "" || strings.ContainsAny(value, ",[]{}\"'`\\ \t\r\n") || strings.ContainsAny(value[:1], "-?:#&*!|>%@") {
		return false
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("k: "+value), &n); err != nil {
		return false
	}
	if len(n.Content) != 1 || len(n.Content[0].Content) != 2 {
		return false
	}
	v := n.Content[0].Content[1]
	return v.Kind == yaml.ScalarNode && v.Style == 0 && v.ShortTag() == "!!str" && v.Value == value
}
