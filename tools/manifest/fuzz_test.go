package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSetImage guards the promises a pipeline relies on for any input: no
// panic, and whenever an edit succeeds its output parses, reads back the new
// values and is a fixed point of the same edit.
func FuzzSetImage(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "original", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "platform-demo", newImage)
	}
	f.Add([]byte("kind: Pod\nspec:\n  containers:\n  - name: app\n    image: a\n"), "app", "b:1")
	f.Add([]byte("kind: Pod\nmetadata:\n  annotations:\nspec:\n  containers:\n  - {name: app, image: 'a'}\n"), "app", "1")
	f.Add([]byte("images:\n- name: app\n  newTag: \"1\"\n  digest: sha256:00\n"), "app", "x/app:2")

	f.Fuzz(func(t *testing.T, in []byte, container, image string) {
		for _, c := range []Change{
			{Container: container, Image: image},
			{Container: container, Image: image, SourceCommit: newCommit},
		} {
			out, changed, err := Edit(in, c)
			if err != nil {
				continue
			}
			if _, err := decodeAll(out); err != nil {
				t.Fatalf("Edit(%q, %+v) = %q, which does not parse: %v", in, c, out, err)
			}
			if !changed && !bytes.Equal(out, in) {
				t.Fatalf("Edit(%q, %+v) changed the bytes but reported no change", in, c)
			}
			again, changed, err := Edit(out, c)
			if err != nil || changed || !bytes.Equal(again, out) {
				t.Fatalf("Edit(%q, %+v) is not idempotent: second edit = %q, changed %v, err %v", in, c, again, changed, err)
			}
			cur, err := Read(out, container)
			if err != nil {
				t.Fatalf("Read after Edit(%q, %+v): %v", in, c, err)
			}
			if c.Image != "" && cur.Workload != "Kustomization" && cur.Image != image {
				t.Fatalf("Read after Edit(%q, %+v) = image %q, want %q", in, c, cur.Image, image)
			}
			if c.SourceCommit != "" && cur.SourceCommit != c.SourceCommit {
				t.Fatalf("Read after Edit(%q, %+v) = commit %q, want %q", in, c, cur.SourceCommit, c.SourceCommit)
			}
		}
	})
}
