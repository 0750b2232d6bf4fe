package workflowcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

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
		{"queue-count", 7, "syntax-check", "concurrency's queue takes one value, max"},
		// queue: max is GitHub's since 2026-05, newer than actionlint: clean.
		{"queue-max", 0, "", ""},
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
			if tt.line == 0 {
				if len(got) != 0 {
					t.Errorf("Lint(%s) = %v, want no problem", tt.name, got)
				}
				return
			}
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

// TestDeploysQueue guards the one concurrency group of every job that
// writes the gitops repository (ci.yml's deploy, operate.yml's operate):
// never cancelled halfway, and with queue: max, so that a push to main
// does not cancel a promotion or a rollback waiting in the group (GitHub
// keeps one pending run per group otherwise).
func TestDeploysQueue(t *testing.T) {
	dir := root(t)
	groups := 0
	for _, name := range []string{"ci.yml", "operate.yml"} {
		b, err := os.ReadFile(filepath.Join(dir, ".github", "workflows", name))
		if err != nil {
			t.Fatal(err)
		}
		var wf struct {
			Jobs map[string]struct {
				Concurrency *struct {
					Group            string `yaml:"group"`
					CancelInProgress *bool  `yaml:"cancel-in-progress"`
					Queue            string `yaml:"queue"`
				} `yaml:"concurrency"`
			} `yaml:"jobs"`
		}
		if err := yaml.Unmarshal(b, &wf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for job, j := range wf.Jobs {
			c := j.Concurrency
			if c == nil || !strings.HasPrefix(c.Group, "deploy-") {
				continue
			}
			groups++
			if c.CancelInProgress == nil || *c.CancelInProgress || c.Queue != "max" {
				t.Errorf("%s, job %s: concurrency %+v, want cancel-in-progress: false and queue: max", name, job, *c)
			}
		}
	}
	if groups < 2 {
		t.Errorf("found %d jobs in the deploy group, want ci.yml's deploy and operate.yml's operate", groups)
	}
}
