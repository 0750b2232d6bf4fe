package workflowcheck

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

// root is the repository root: its go.mod pins actionlint as a tool, and
// the workflows live below it.
func root(t *testing.T) string {
	t.Helper()
	return inputstest.Need(t, inputs.Workflows, inputs.Tooling)
}

// TestLintRepositoryWorkflow guards the workflows GitHub runs (ci on every
// push, operate by hand): a mistake there surfaces only once they run
// otherwise.
func TestLintRepositoryWorkflow(t *testing.T) {
	dir := root(t)
	files, err := filepath.Glob(filepath.Join(dir, ".github/workflows/*.yml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("workflows = %v, %v; want ci.yml and operate.yml at least", files, err)
	}
	problems, err := Lint(context.Background(), Options{RepoRoot: dir, Files: files})
	if err != nil {
		t.Fatalf("Lint(%v) error: %v", files, err)
	}
	for _, p := range problems {
		t.Errorf("Lint: %s", p)
	}
}

// TestLintFixtures makes sure each kind of mistake is reported, with its
// place, so a clean result for the real workflow means something.
func TestLintFixtures(t *testing.T) {
	tests := []struct {
		name     string
		line     int
		rule     string
		contains string
	}{
		{"misspelled-input", 9, "action", `input "go-version-fil" is not defined in action "actions/setup-go@v5"`},
		{"bad-expression", 6, "expression", `property "repositry" is not defined`},
		{"missing-job", 3, "job-needs", `job "deploy" needs job "build" which does not exist`},
		{"untrusted-input", 6, "expression", `"github.event.pull_request.title" is potentially untrusted`},
		{"permission-typo", 7, "permissions", `unknown permission scope "package"`},
	}
	// One actionlint run for every fixture: each run re-checks the tool's build.
	files := make([]string, len(tests))
	for i, tt := range tests {
		abs, err := filepath.Abs(filepath.Join("testdata", tt.name+".yml"))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = abs
	}
	// actionlint reads the fixtures; opening them here lets the test cache see them.
	inputstest.Track(t, files...)
	problems, err := Lint(context.Background(), Options{RepoRoot: root(t), Files: files})
	if err != nil {
		t.Fatalf("Lint(fixtures) error: %v", err)
	}
	byFile := map[string][]Problem{}
	for _, p := range problems {
		name := strings.TrimSuffix(filepath.Base(p.File), ".yml")
		byFile[name] = append(byFile[name], p)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byFile[tt.name]
			if len(got) != 1 {
				t.Fatalf("Lint(%s) = %d problems %v, want 1", tt.name, len(got), got)
			}
			p := got[0]
			if p.Line != tt.line || p.Rule != tt.rule || !strings.Contains(p.Message, tt.contains) {
				t.Errorf("Lint(%s) = %q, want line %d [%s] containing %q", tt.name, p, tt.line, tt.rule, tt.contains)
			}
			if want := "tools/policy/workflowcheck/testdata/" + tt.name + ".yml"; p.File != want {
				t.Errorf("Lint(%s).File = %q, want %q (relative to the repository root)", tt.name, p.File, want)
			}
		})
	}
}

// TestLintFailure guards against a run that could not lint being taken for a
// clean one.
func TestLintFailure(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		contains string
	}{
		{"no files", Options{RepoRoot: root(t)}, "no files given"},
		{"missing file", Options{RepoRoot: root(t), Files: []string{"no/such/workflow.yml"}}, "no/such/workflow.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, err := Lint(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("Lint(%+v) = %v, %v; want an error containing %q", tt.opts, problems, err, tt.contains)
			}
		})
	}
}
