package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkOnlyTargetLines asserts that an edit touched the image and the
// source commit and nothing else: every line it added names a part of the
// new image or the commit (or opens the mapping it had to create for the
// annotation), and
// it changed at most a handful of lines.
func checkOnlyTargetLines(t *testing.T, in, out []byte, c Change) {
	t.Helper()
	removed, added := lineDiff(string(in), string(out))
	rest, digest, _ := strings.Cut(c.Image, "@")
	parts := []string{c.Image, rest, digest}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		parts = append(parts, rest[:i], rest[i+1:])
	}
	if c.SourceCommit != "" {
		parts = append(parts, c.SourceCommit)
	}
	// The keys an edit may have to create to hold the annotation.
	opens := map[string]bool{"metadata:": true, "annotations:": true, "commonAnnotations:": true}
	// A value is quoted as YAML needs: compare with its escapes undone.
	unquote := strings.NewReplacer("''", "'", `\"`, `"`, `\\`, `\`)
	for _, l := range added {
		named := opens[strings.TrimSpace(l)]
		l = unquote.Replace(l)
		for _, p := range parts {
			named = named || (p != "" && strings.Contains(l, p))
		}
		if !named {
			t.Fatalf("Edit(%q, %+v) added the line %q, which names neither the image nor the commit:\n%s", in, c, l, out)
		}
	}
	if len(removed) > 4 || len(added) > 5 {
		t.Fatalf("Edit(%q, %+v) rewrote %d lines into %d, want only the image and annotation lines:\n%s", in, c, len(removed), len(added), out)
	}
}

// lineDiff returns the lines of a missing from b and of b missing from a,
// counted as multisets.
func lineDiff(a, b string) (removed, added []string) {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		if count[l] > 0 {
			count[l]--
			continue
		}
		added = append(added, l)
	}
	for l, n := range count {
		for range n {
			removed = append(removed, l)
		}
	}
	return removed, added
}

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
			if changed == bytes.Equal(out, in) {
				t.Fatalf("Edit(%q, %+v) reported changed %v, but the bytes say otherwise:\n%s", in, c, changed, out)
			}
			if changed {
				checkOnlyTargetLines(t, in, out, c)
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
