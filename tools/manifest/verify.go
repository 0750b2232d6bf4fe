package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// verify checks that out decodes to exactly in with ops applied: the edit
// changed the targeted values and nothing else.
func verify(in, out []byte, ops []op) error {
	want, err := decodeAll(in)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotYAML, err)
	}
	got, err := decodeAll(out)
	if err != nil {
		return fmt.Errorf("%w: the edited manifest would not parse (%v); edit the file by hand", ErrUnsupported, err)
	}
	for _, o := range ops {
		if o.doc >= len(want) {
			return fmt.Errorf("%w: document %d out of range", ErrUnsupported, o.doc+1)
		}
		v, ok := apply(want[o.doc], o.path, o.value, o.del)
		if !ok {
			return fmt.Errorf("%w: cannot follow path %v", ErrUnsupported, o.path)
		}
		want[o.doc] = v
	}
	if !equal(want, got) {
		return fmt.Errorf("%w: the edit would change more than the targeted values (anchors or unusual layout); edit the file by hand", ErrUnsupported)
	}
	return nil
}

func decodeAll(b []byte) ([]any, error) {
	var docs []any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

// apply sets (or deletes) the value at path in a decoded document, creating
// mappings on the way as the edit does.
func apply(v any, path []any, value string, del bool) (any, bool) {
	if len(path) == 0 {
		return value, true
	}
	switch p := path[0].(type) {
	case string:
		switch m := v.(type) {
		case nil:
			if del {
				return nil, true
			}
			child, ok := apply(nil, path[1:], value, del)
			return map[string]any{p: child}, ok
		case map[string]any:
			if del && len(path) == 1 {
				delete(m, p)
				return m, true
			}
			child, ok := apply(m[p], path[1:], value, del)
			m[p] = child
			return m, ok
		case map[any]any:
			if del && len(path) == 1 {
				delete(m, p)
				return m, true
			}
			child, ok := apply(m[p], path[1:], value, del)
			m[p] = child
			return m, ok
		}
	case int:
		if s, ok := v.([]any); ok && p >= 0 && p < len(s) {
			child, ok := apply(s[p], path[1:], value, del)
			s[p] = child
			return s, ok
		}
	}
	return v, false
}

// equal is reflect.DeepEqual for decoded YAML, except that NaN equals NaN
// and times compare by instant.
func equal(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case map[any]any:
		y, ok := b.(map[any]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return reflect.DeepEqual(a, b)
}
