package gate

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

func TestGofmt(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr string
	}{
		{name: "formatted", src: "package a\n\nfunc F() {}\n"},
		{name: "unformatted", src: "package a\nfunc F( ) {  }\n", wantErr: "gofmt -w a.go"},
		{name: "syntax error", src: "package a\nfunc {\n", wantErr: "gofmt a.go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
				t.Fatalf("git init: %v\n%s", err, out)
			}
			if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Gofmt(context.Background(), dir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Gofmt() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Gofmt() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestStaticcheck proves the gate's staticcheck runs as the repository
// configures it: a package that breaks a check left off by default
// (ST1003) and one on by default (U1000) fails it, and names both.
func TestStaticcheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs staticcheck")
	}
	root := inputstest.Need(t, inputs.Lint)
	// Opened here so that Go's test cache sees the fixture.
	if _, err := os.ReadFile("testdata/lint/lint.go"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := staticcheck(context.Background(), Options{Root: root, Env: Environ(os.Environ(), nil), Stderr: &out}, "./tools/gate/testdata/lint")
	if err == nil {
		t.Fatalf("staticcheck on testdata/lint passed, want it to fail:\n%s", &out)
	}
	for _, want := range []string{"lint.go:7:6: func GetUrl should be GetURL (ST1003)", "lint.go:10:6: func unused is unused (U1000)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("staticcheck said:\n%s\nwant %q", &out, want)
		}
	}
}

// TestTidy guards the gate's check that the service modules are tidy: a
// requirement no package uses is named with the command that fixes it;
// modules outside services/ are not its business.
func TestTidy(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"services/tidy/go.mod":    "module example.com/tidy\n\ngo 1.26\n",
		"services/tidy/main.go":   "package main\n\nfunc main() {}\n",
		"services/untidy/go.mod":  "module example.com/untidy\n\ngo 1.26\n\nrequire golang.org/x/mod v0.41.0\n",
		"services/untidy/main.go": "package main\n\nfunc main() {}\n",
		"tools/go.mod":            "module example.com/tools\n\ngo 1.26\n\nrequire golang.org/x/mod v0.41.0\n",
	}
	for name, content := range files {
		write(t, root, name, content)
	}
	// Offline: the module cache holds golang.org/x/mod, which the tools
	// module requires.
	opts := Options{Root: root, Env: append(Environ(os.Environ(), nil), "GOPROXY=off")}
	if err := Tidy(context.Background(), opts, []string{"./services/tidy/...", "./tools/..."}); err != nil {
		t.Errorf("Tidy(tidy service, untidy tools) = %v, want nil", err)
	}
	err := Tidy(context.Background(), opts, []string{"./services/tidy/...", "./services/untidy/..."})
	if err == nil || !strings.Contains(err.Error(), "services/untidy is not tidy: run (cd services/untidy && GOWORK=off go mod tidy)") ||
		!strings.Contains(err.Error(), "-require golang.org/x/mod v0.41.0") || strings.Contains(err.Error(), "services/tidy ") {
		t.Errorf("Tidy(untidy service) = %v, want services/untidy named, with the fix and the diff", err)
	}
}

// TestLintVetsMagefileAndModules proves the gate's one go vet covers the
// magefile (its build tag set) and the workspace's modules: each file of a
// small workspace breaks a printf check, and both must be reported.
func TestLintVetsMagefileAndModules(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.work":     "go 1.26\n\nuse (\n\t.\n\t./m\n)\n",
		"go.mod":      "module example.com/root\n\ngo 1.26\n",
		"m/go.mod":    "module example.com/m\n\ngo 1.26\n",
		"m/m.go":      "package m\n\nimport \"fmt\"\n\nfunc F() string { return fmt.Sprintf(\"%d\", \"module\") }\n",
		"magefile.go": "//go:build mage\n\npackage main\n\nimport \"fmt\"\n\nfunc CI() { fmt.Printf(\"%d\\n\", \"magefile\") }\n",
	}
	for name, src := range files {
		write(t, root, name, src)
	}
	patterns, err := Patterns(root)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = lint(context.Background(), Options{Root: root, Env: Environ(os.Environ(), nil), Stderr: &out}, patterns)
	if err == nil {
		t.Fatalf("lint passed, want go vet to fail:\n%s", &out)
	}
	for _, want := range []string{"magefile.go:7:", "m.go:5:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("go vet said:\n%s\nwant a finding at %q", &out, want)
		}
	}
}
