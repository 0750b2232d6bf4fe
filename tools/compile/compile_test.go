package compile

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
)

// koYAML builds the module at the root as the repository's .ko.yaml builds
// the service: a CGO-free, trimmed build stamped through {{.Env.LDFLAGS}}.
const koYAML = `defaultBaseImage: gcr.io/distroless/static:nonroot
builds:
  - id: app
    dir: .
    main: .
    env: [CGO_ENABLED=0]
    flags: [-trimpath]
    ldflags: ["{{ .Env.LDFLAGS }}"]
`

func TestBinaryStampsVersion(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod":   "module example.com/stamp\n\ngo 1.22\n",
		"main.go":  "package main\n\nvar version, commit = \"dev\", \"unknown\"\n\nfunc main() { print(version + \" \" + commit) }\n",
		".ko.yaml": koYAML,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const commit = "77b10fa9cd12d563820e1230a4fdceccfb199718"
	bin, err := Binary(context.Background(), Options{
		Root: root, Main: ".", Output: "bin/stamp", LDFlags: buildinfo.LDFlags("77b10fa", commit),
	})
	if err != nil {
		t.Fatalf("Binary() error = %v", err)
	}
	if want := filepath.Join(root, "bin/stamp"); bin != want {
		t.Errorf("Binary() = %q, want %q", bin, want)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("run %s: %v", bin, err)
	}
	if got, want := string(out), "77b10fa "+commit; got != want {
		t.Errorf("binary printed %q, want %q", got, want)
	}
}

func TestBinaryReportsCompileErrors(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":   "module example.com/bad\n\ngo 1.22\n",
		"main.go":  "package main\n\nfunc main() { undefinedThing() }\n",
		".ko.yaml": koYAML,
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Binary(context.Background(), Options{Root: root, Main: ".", Output: "bad"})
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("Binary() error = %v, want the compiler's message naming undefinedThing", err)
	}
}
