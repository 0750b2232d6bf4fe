package manifest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/expected from the current output")

const (
	newImage  = "ghcr.io/andrelair-platform/platform-demo:abc1234@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	newCommit = "abc1234def5678abc1234def5678abc1234def56"
)

// TestEditGolden guards the main promise of the package: on realistic
// manifests the edit changes the image (and the source commit annotation)
// and leaves every other byte alone.
func TestEditGolden(t *testing.T) {
	tests := []struct {
		name   string // file under testdata/original and testdata/expected
		change Change
	}{
		{"deployment.yaml", Change{Container: "platform-demo", Image: newImage, SourceCommit: newCommit}},
		{"annotated.yaml", Change{Container: "platform-demo", Image: newImage, SourceCommit: newCommit}},
		{"multidoc.yaml", Change{Container: "platform-demo", Image: newImage, SourceCommit: newCommit}},
		{"statefulset-init.yaml", Change{Container: "migrate", Image: newImage, SourceCommit: newCommit}},
		{"cronjob.yaml", Change{Container: "platform-demo", Image: newImage, SourceCommit: newCommit}},
		{"pod.yaml", Change{Container: "platform-demo", Image: newImage, SourceCommit: newCommit}},
		{"daemonset.yaml", Change{Container: "platform-demo", Image: newImage, SourceCommit: newCommit}},
		{"kustomization.yaml", Change{Container: "platform-demo", Image: newImage, SourceCommit: newCommit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "original", tt.name))
			if err != nil {
				t.Fatal(err)
			}
			got, changed, err := Edit(in, tt.change)
			if err != nil {
				t.Fatalf("Edit(%s) error: %v", tt.name, err)
			}
			if !changed {
				t.Errorf("Edit(%s) changed = false, want true", tt.name)
			}
			wantPath := filepath.Join("testdata", "expected", tt.name)
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Edit(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}

			again, changed, err := Edit(got, tt.change)
			if err != nil || changed || !bytes.Equal(again, got) {
				t.Errorf("second Edit(%s) = changed %v, err %v, want unchanged bytes", tt.name, changed, err)
			}
			cur, err := Read(got, tt.change.Container)
			if err != nil {
				t.Fatalf("Read(%s) error: %v", tt.name, err)
			}
			if cur.Image != tt.change.Image || cur.SourceCommit != tt.change.SourceCommit {
				t.Errorf("Read(%s) = %+v, want image %q and commit %q", tt.name, cur, tt.change.Image, tt.change.SourceCommit)
			}
		})
	}
}

// TestSetImage covers quoting styles, workload kinds and line endings that
// the golden files do not.
func TestSetImage(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		container string
		image     string
		want      string
	}{
		{
			name:      "plain stays plain",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: a:1 # old\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: a:2 # old\n",
		},
		{
			name:      "double quotes stay double",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: \"a:1\"\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: \"a:2\"\n",
		},
		{
			name:      "single quotes stay single",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: 'a:1'\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: 'a:2'\n",
		},
		{
			name:      "value that would read as a number is quoted",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: a\n",
			container: "app", image: "1234567",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: \"1234567\"\n",
		},
		{
			name:      "explicit tag is kept",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: !!str a:1\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: !!str a:2\n",
		},
		{
			name:      "missing image is added",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    args: [x]\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    args: [x]\n    image: a:2\n",
		},
		{
			name:      "empty image is filled",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    image:\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: a:2\n",
		},
		{
			name:      "CRLF line endings",
			in:        "kind: Job\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n      - name: app\r\n        image: a:1\r\n",
			container: "app", image: "a:2",
			want: "kind: Job\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n      - name: app\r\n        image: a:2\r\n",
		},
		{
			name:      "byte order mark and no final newline",
			in:        "\ufeffkind: ReplicaSet\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: a:1",
			container: "app", image: "a:2",
			want: "\ufeffkind: ReplicaSet\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: a:2",
		},
		{
			name:      "non-ASCII text before the value",
			in:        "kind: Pod\nmetadata: {name: café}\nspec:\n  containers:\n  - {name: app, image: a:1} # été\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nmetadata: {name: café}\nspec:\n  containers:\n  - {name: app, image: a:2} # été\n",
		},
		{
			name:      "custom workload with a pod template",
			in:        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: a:1\n",
			container: "app", image: "a:2",
			want: "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: a:2\n",
		},
		{
			name:      "tag only reference",
			in:        "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: a:1@sha256:00\n",
			container: "app", image: "a:2",
			want: "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: a:2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := SetImage([]byte(tt.in), tt.container, tt.image)
			if err != nil {
				t.Fatalf("SetImage(%q) error: %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("SetImage(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !changed {
				t.Errorf("SetImage(%q) changed = false, want true", tt.in)
			}
			again, changed, err := SetImage(got, tt.container, tt.image)
			if err != nil || changed || !bytes.Equal(again, got) {
				t.Errorf("SetImage(SetImage(%q)) = %q, changed %v, err %v; want a no-op", tt.in, again, changed, err)
			}
		})
	}
}

// TestEditAnnotation covers every shape the annotations of a pod template
// can have before the first bump.
func TestEditAnnotation(t *testing.T) {
	const head = "kind: Deployment\nspec:\n  template:\n"
	const tail = "    spec:\n      containers:\n      - name: app\n        image: a:1\n"
	tests := []struct {
		name     string
		metadata string // template lines before tail
		want     string
	}{
		{
			name:     "no metadata",
			metadata: "",
			want:     "    metadata:\n      annotations:\n        platform-demo.dev/source-commit: " + newCommit + "\n",
		},
		{
			name:     "metadata without annotations",
			metadata: "    metadata:\n      labels:\n        app: x\n",
			want:     "    metadata:\n      labels:\n        app: x\n      annotations:\n        platform-demo.dev/source-commit: " + newCommit + "\n",
		},
		{
			name:     "metadata ending in a scalar",
			metadata: "    metadata:\n      name: x\n",
			want:     "    metadata:\n      name: x\n      annotations:\n        platform-demo.dev/source-commit: " + newCommit + "\n",
		},
		{
			name:     "empty annotations",
			metadata: "    metadata:\n      annotations:\n",
			want:     "    metadata:\n      annotations:\n        platform-demo.dev/source-commit: " + newCommit + "\n",
		},
		{
			name:     "null annotations",
			metadata: "    metadata:\n      annotations: null\n",
			want:     "    metadata:\n      annotations: {platform-demo.dev/source-commit: " + newCommit + "}\n",
		},
		{
			name:     "flow annotations with entries",
			metadata: "    metadata:\n      annotations: {a: b}\n",
			want:     "    metadata:\n      annotations: {platform-demo.dev/source-commit: " + newCommit + ", a: b}\n",
		},
		{
			name:     "block annotations",
			metadata: "    metadata:\n      annotations:\n        a: b\n",
			want:     "    metadata:\n      annotations:\n        a: b\n        platform-demo.dev/source-commit: " + newCommit + "\n",
		},
		{
			name:     "numeric-looking commit stays a string",
			metadata: "    metadata:\n      annotations:\n        platform-demo.dev/source-commit: \"1\"\n",
			want:     "    metadata:\n      annotations:\n        platform-demo.dev/source-commit: \"" + newCommit + "\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := head + tt.metadata + tail
			got, _, err := Edit([]byte(in), Change{Container: "app", SourceCommit: newCommit})
			if err != nil {
				t.Fatalf("Edit(%q) error: %v", in, err)
			}
			if want := head + tt.want + tail; string(got) != want {
				t.Errorf("Edit(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestEditKustomization(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		image string
		want  string
	}{
		{
			name:  "digest removed for a tag-only reference",
			in:    "images:\n- name: app\n  newTag: \"1\"\n  digest: sha256:00\n",
			image: "app:2",
			want:  "images:\n- name: app\n  newTag: \"2\"\n",
		},
		{
			name:  "newName added for another repository",
			in:    "images:\n- name: app\n  newTag: \"1\"\n",
			image: "ghcr.io/org/app:v2",
			want:  "images:\n- name: app\n  newTag: \"v2\"\n  newName: ghcr.io/org/app\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := SetImage([]byte(tt.in), "app", tt.image)
			if err != nil {
				t.Fatalf("SetImage(%q) error: %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("SetImage(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestEditErrors checks that each failure names its cause, so that a
// pipeline log says what to fix.
func TestEditErrors(t *testing.T) {
	const pod = "kind: Pod\nspec:\n  containers:\n  - name: web\n    image: a\n  initContainers:\n  - name: setup\n    image: b\n"
	podApp := strings.Replace(pod, "web", "app", 1)
	tests := []struct {
		name    string
		in      string
		wantErr error
		wantMsg string
	}{
		{"not YAML", "kind: [Pod\n", ErrNotYAML, "not YAML"},
		{"not YAML tab indent", "a:\n\t- b\n", ErrNotYAML, "not YAML"},
		{"no workload", "apiVersion: v1\nkind: Service\nspec:\n  ports: []\n", ErrNoWorkload, "Deployment"},
		{"empty file", "", ErrNoWorkload, "0 documents"},
		{"container not found", pod, ErrContainerNotFound, "Pod: web, init setup"},
		{"ambiguous", podApp + "---\nkind: Service\n---\n" + strings.Replace(podApp, "kind: Pod", "kind: Pod\nmetadata: {name: p}", 1),
			ErrAmbiguous, "Pod (document 1) and Pod/p (document 3)"},
		{"alias", "x: &img a:1\nkind: Pod\nspec:\n  containers:\n  - name: app\n    image: *img\n", ErrUnsupported, "alias"},
		{"block scalar", "kind: Pod\nspec:\n  containers:\n  - name: app\n    image: |\n      a:1\n", ErrUnsupported, "block scalar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			container := "app"
			_, _, err := SetImage([]byte(tt.in), container, "a:2")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SetImage(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("SetImage(%q) error = %q, want it to mention %q", tt.in, err, tt.wantMsg)
			}
		})
	}
}

// TestSyntaxErrorLine guards the line a broken manifest is reported at:
// the parser's problems came one line early (yaml.v3 counts them from 0),
// the scanner's did not.
func TestSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		problem  string
	}{
		{"an unclosed flow list (parser)", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  labels: [\nspec: {}\n", 5, "did not find expected ',' or ']'"},
		{"an unclosed flow mapping (parser)", "a: 1\nb: {x: 1\n", 2, "did not find expected ',' or '}'"},
		{"a list item indented less (parser)", "a: 1\nb:\n  - x\n - y\n", 4, "did not find expected key"},
		{"a value after a value (scanner)", "a: 1\nb: 2\nc: : 3\n", 3, "mapping values are not allowed in this context"},
		{"a tab (scanner)", "a: 1\n\tb: 2\n", 2, "found a tab character that violates indentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read([]byte(tt.in), "x")
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrNotYAML) {
				t.Fatalf("Read() = %v, want a *SyntaxError", err)
			}
			if se.Line != tt.line || se.Problem != tt.problem {
				t.Errorf("Read() = line %d %q, want line %d %q", se.Line, se.Problem, tt.line, tt.problem)
			}
			if want := fmt.Sprintf("not YAML: line %d: %s", tt.line, tt.problem); err.Error() != want {
				t.Errorf("Read() = %q, want %q", err, want)
			}
		})
	}
}

func TestEditUnchanged(t *testing.T) {
	in := []byte("kind: Pod\nmetadata:\n  annotations:\n    platform-demo.dev/source-commit: " + newCommit + "\nspec:\n  containers:\n  - name: app\n    image: a:1\n")
	out, changed, err := Edit(in, Change{Container: "app", Image: "a:1", SourceCommit: newCommit})
	if err != nil {
		t.Fatal(err)
	}
	if changed || !bytes.Equal(out, in) {
		t.Errorf("Edit of a manifest already at target = %q, changed %v; want input, false", out, changed)
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Current
	}{
		{
			name: "deployment without annotation",
			in:   "kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: app, image: a:1}\n",
			want: Current{Image: "a:1", Workload: "Deployment/d"},
		},
		{
			name: "kustomization",
			in:   "commonAnnotations:\n  platform-demo.dev/source-commit: abc\nimages:\n- name: ghcr.io/o/app\n  newTag: t\n  digest: sha256:d\n",
			want: Current{Image: "ghcr.io/o/app:t@sha256:d", SourceCommit: "abc", Workload: "Kustomization"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read([]byte(tt.in), "app")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestEditWorkloadAnnotations guards where the pipeline records its
// verdicts: the workload's own metadata, never the pod template (a change
// there would restart every pod), written as one line that reads back.
func TestEditWorkloadAnnotations(t *testing.T) {
	const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    metadata:\n      annotations:\n        a: b\n    spec:\n      containers:\n      - name: app\n        image: a:1\n"
	const kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- name: app\n  newTag: \"1\"\n"
	set := map[string]string{
		"platform-demo.dev/passed-image":  "r/app@sha256:" + strings.Repeat("a", 64),
		"platform-demo.dev/passed-detail": "3s: 60 probes, 0 failed; /readyz 0 not 200: it's \"fine\"",
	}
	tests := []struct {
		name, in, want string
	}{
		{"deployment", deployment, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  annotations:\n" +
			"    platform-demo.dev/passed-detail: \"3s: 60 probes, 0 failed; /readyz 0 not 200: it's \\\"fine\\\"\"\n" +
			"    platform-demo.dev/passed-image: r/app@sha256:" + strings.Repeat("a", 64) + "\n" +
			"spec:\n  template:\n    metadata:\n      annotations:\n        a: b\n    spec:\n      containers:\n      - name: app\n        image: a:1\n"},
		{"kustomization", kustomization, "metadata:\n  annotations:\n" +
			"    platform-demo.dev/passed-detail: \"3s: 60 probes, 0 failed; /readyz 0 not 200: it's \\\"fine\\\"\"\n" +
			"    platform-demo.dev/passed-image: r/app@sha256:" + strings.Repeat("a", 64) + "\n" + kustomization},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := Edit([]byte(tt.in), Change{Container: "app", Annotations: set})
			if err != nil || !changed {
				t.Fatalf("Edit() = %v, changed %v; want the annotations written", err, changed)
			}
			if string(out) != tt.want {
				t.Errorf("Edit() =\n%s\nwant\n%s", out, tt.want)
			}
			cur, err := Read(out, "app")
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range set {
				if cur.Annotations[k] != v {
					t.Errorf("Read().Annotations[%s] = %q, want %q", k, cur.Annotations[k], v)
				}
			}
			again, changed, err := Edit(out, Change{Container: "app", Annotations: set})
			if err != nil || changed || string(again) != string(out) {
				t.Errorf("Edit() twice changed the bytes (%v, %v)", changed, err)
			}
		})
	}
	for _, bad := range []map[string]string{
		{"Not A Key": "x"},
		{"platform-demo.dev/passed-detail": "two\nlines"},
	} {
		if _, _, err := Edit([]byte(deployment), Change{Container: "app", Annotations: bad}); err == nil {
			t.Errorf("Edit(%q) = nil error, want it refused", bad)
		}
	}
}
