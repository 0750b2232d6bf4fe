// Package gitopscheck checks the gitops tree before anything is deployed from
// it: every Kubernetes manifest must decode strictly into its API type and
// carry the recommended labels, the Deployment must meet the product's
// runtime policy, no Secret may carry data, the objects must refer to each
// other correctly, and each Argo CD Application must be allowed by its
// AppProject to deploy what it deploys.
//
// The checks run offline and need no cluster: they catch at test time what
// Argo CD would otherwise report as a failed sync, or the cluster as a pod
// that never becomes ready.
package gitopscheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// Problem is one rule broken by one file under the gitops tree.
type Problem struct {
	// File is the slash-separated path of the file, relative to the directory
	// given to Dir.
	File string
	// Line is the 1-based line the problem was found on, or 0 when it concerns
	// the whole file.
	Line int
	// Object names the Kubernetes object, as "Kind namespace/name", when the
	// document decoded far enough to have one.
	Object string
	// Message says what is wrong and, where that is not obvious, how to fix it.
	Message string
}

// String formats the problem as "file:line: Object: message", the shape
// editors and CI logs link to.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Object != "" {
		b.WriteString(p.Object)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// object is one decoded YAML document of the tree.
type object struct {
	file      string     // slash path relative to the checked directory
	doc       *yaml.Node // the document, for line numbers
	kind      kindSpec   // what the document was decoded as
	name      string
	namespace string
	value     any // pointer to the typed value; nil when it did not decode
}

// ref names the object in problems.
func (o *object) ref() string {
	switch {
	case o.name == "":
		return o.kind.kind
	case o.namespace == "":
		return o.kind.kind + " " + o.name
	default:
		return o.kind.kind + " " + o.namespace + "/" + o.name
	}
}

// problem returns a problem about o located at the node found at path.
func (o *object) problem(path []any, format string, args ...any) Problem {
	return Problem{File: o.file, Line: lineOf(o.doc, path...), Object: o.ref(), Message: fmt.Sprintf(format, args...)}
}

// Dir checks every YAML file under dir, the root of a gitops tree laid out
// like this repository's gitops/ folder. It returns the problems found,
// sorted by file and line; the error is reserved for failures to read the
// tree itself.
func Dir(ctx context.Context, dir string) ([]Problem, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("check gitops tree %s: %w", dir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("check gitops tree %s: not a directory", dir)
	}
	var (
		problems []Problem
		objects  []*object
	)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			// A clone of the gitops repository carries .git and maybe
			// editor folders: none of it is deployed.
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if filepath.ToSlash(rel) == environmentsFile {
			return nil // not a manifest: checkEnvironments reads it
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, probs := decodeFile(filepath.ToSlash(rel), data)
		objects = append(objects, objs...)
		problems = append(problems, probs...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check gitops tree %s: %w", dir, err)
	}
	for _, o := range objects {
		if o.value == nil {
			continue
		}
		if o.kind.check != nil {
			problems = append(problems, o.kind.check(o)...)
		}
		problems = append(problems, checkLabels(o)...)
	}
	problems = append(problems, checkReferences(dir, objects)...)
	problems = append(problems, checkProjects(objects)...)
	problems = append(problems, checkEnvironments(dir, objects)...)
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].File != problems[j].File {
			return problems[i].File < problems[j].File
		}
		return problems[i].Line < problems[j].Line
	})
	return problems, nil
}

// decodeFile splits a YAML file into documents and decodes each strictly
// into the type its apiVersion and kind name.
func decodeFile(file string, data []byte) ([]*object, []Problem) {
	var (
		objects  []*object
		problems []Problem
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The parser cannot resynchronise after a syntax error, so the
			// rest of the file is unchecked; one problem says why.
			problems = append(problems, Problem{File: file, Line: syntaxErrorLine(err), Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			break
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, as after a trailing "---"
		}
		if dups := duplicateKeys(file, doc.Content[0]); len(dups) > 0 {
			// Which of two equal keys wins differs between YAML libraries,
			// so what Argo CD applies could differ from what was reviewed.
			problems = append(problems, dups...)
			continue
		}
		o, probs := decodeDocument(file, &doc)
		problems = append(problems, probs...)
		if o != nil {
			objects = append(objects, o)
		}
	}
	return objects, problems
}

// typeMeta is enough of any document to choose its type.
type typeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
}

// decodeDocument decodes one document strictly into its registered type.
func decodeDocument(file string, doc *yaml.Node) (*object, []Problem) {
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, []Problem{{File: file, Line: root.Line, Message: "not a Kubernetes object: the document is not a mapping"}}
	}
	var tm typeMeta
	// Decoding only fails here on a wrongly typed apiVersion, kind or
	// metadata, which the strict decode below reports with more context.
	_ = doc.Decode(&tm)
	spec, ok := lookupKind(file, tm.APIVersion, tm.Kind)
	if !ok {
		var msg string
		switch {
		case tm.APIVersion == "" && tm.Kind == "":
			msg = "not a Kubernetes object: no apiVersion and kind (Homer configuration belongs under a homer/ directory)"
		default:
			msg = fmt.Sprintf("unknown kind %s %s: the checks know %s; add the kind to tools/policy/gitopscheck (and, for Argo CD, to the AppProject's resource lists) before deploying it", tm.APIVersion, tm.Kind, knownKinds())
		}
		return nil, []Problem{{File: file, Line: lineOf(doc, "kind"), Message: msg}}
	}
	o := &object{file: file, doc: doc, kind: spec, name: tm.Metadata.Name, namespace: tm.Metadata.Namespace}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		return nil, []Problem{{File: file, Line: root.Line, Object: o.ref(), Message: fmt.Sprintf("re-encode document: %v", err)}}
	}
	o.value = spec.newValue()
	if spec.plain {
		err = yaml.Unmarshal(raw, o.value)
	} else {
		err = sigsyaml.UnmarshalStrict(raw, o.value)
	}
	if err != nil {
		// The object is kept without a value: reference checks then know a
		// Deployment or Service is there and do not report it as missing.
		o.value = nil
		return o, []Problem{decodeProblem(o, err)}
	}
	return o, nil
}

var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)

// decodeProblem turns a strict-decoding error into a problem that names the
// field and, for unknown fields, the line it is on (encoding/json reports only
// the field's name).
func decodeProblem(o *object, err error) Problem {
	msg := err.Error()
	for _, prefix := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: ", "error converting YAML to JSON: ", "yaml: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	target := o.kind.apiVersion + " " + o.kind.kind
	if o.kind.apiVersion == "" {
		target = o.kind.kind
	}
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		field := m[1]
		// encoding/json names the deepest field; for a misspelling nested
		// under a typed map it may be a dotted path.
		if i := strings.LastIndex(field, "."); i >= 0 {
			field = field[i+1:]
		}
		p := Problem{File: o.file, Line: keyLine(o.doc, field), Object: o.ref(),
			Message: fmt.Sprintf("unknown field %q for %s: misspelled, or at the wrong level?", m[1], target)}
		if o.kind.partial {
			p.Message += " (the checks model only the fields this product uses; if the field is real, add it to tools/policy/gitopscheck)"
		}
		return p
	}
	line := o.doc.Content[0].Line
	if m := fieldPathRE.FindStringSubmatch(msg); m != nil {
		if l := fieldPathLine(o.doc, strings.Split(m[1], ".")); l > 0 {
			line = l
		}
	}
	return Problem{File: o.file, Line: line, Object: o.ref(), Message: fmt.Sprintf("does not decode as %s: %s", target, msg)}
}

// fieldPathRE finds the JSON path in encoding/json's type errors, as in
// "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
// of type int32".
var fieldPathRE = regexp.MustCompile(`Go struct field [^.\s]+\.(\S+) of type`)

// fieldPathLine returns the line of the key at a dotted JSON path, which
// names mapping keys only: at a list it looks into each item in turn. It
// returns 0 when the path is not found.
func fieldPathLine(n *yaml.Node, keys []string) int {
	if len(keys) == 0 {
		return n.Line
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return fieldPathLine(n.Content[0], keys)
		}
	case yaml.AliasNode:
		return fieldPathLine(n.Alias, keys)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == keys[0] {
				if len(keys) == 1 {
					return n.Content[i].Line
				}
				return fieldPathLine(n.Content[i+1], keys[1:])
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if line := fieldPathLine(item, keys); line > 0 {
				return line
			}
		}
	}
	return 0
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// syntaxErrorLine extracts the line from a yaml.v3 syntax error, 0 if none.
func syntaxErrorLine(err error) int {
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// duplicateKeys reports every mapping key repeated in the same mapping.
func duplicateKeys(file string, n *yaml.Node) []Problem {
	var problems []Problem
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value == "<<" {
				continue // merge keys may repeat
			}
			if line, ok := first[k.Value]; ok {
				problems = append(problems, Problem{File: file, Line: k.Line, Message: fmt.Sprintf("duplicate key %q (first at line %d): remove one", k.Value, line)})
			} else {
				first[k.Value] = k.Line
			}
			problems = append(problems, duplicateKeys(file, n.Content[i+1])...)
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			problems = append(problems, duplicateKeys(file, c)...)
		}
	}
	return problems
}

// lineOf returns the line of the node at path below doc (strings are mapping
// keys, ints sequence indexes). When the path is missing part of the way, it
// returns the line of the deepest node that exists, so a missing field points
// at its parent.
func lineOf(doc *yaml.Node, path ...any) int {
	line, _ := find(doc, path...)
	return line
}

// find walks path below doc like lineOf and also reports whether all of the
// path exists.
func find(doc *yaml.Node, path ...any) (line int, ok bool) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line = n.Line
	for _, step := range path {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch s := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line, false
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
			if next == nil {
				return line, false
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
				return line, false
			}
			n = n.Content[s]
			line = n.Line
		}
	}
	return line, true
}

// keyLine returns the line of the first mapping key named key, 0 if none.
func keyLine(n *yaml.Node, key string) int {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i].Line
			}
		}
	}
	for _, c := range n.Content {
		if line := keyLine(c, key); line > 0 {
			return line
		}
	}
	return 0
}
