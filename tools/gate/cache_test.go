package gate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fixture is a workspace shaped like this repository: a service module
// whose tests build and run the service, a tools module with a test that
// reads gitops/ through inputstest.Need and one that depends on nothing outside
// its package, and a gitops/ tree. {{nonce}} makes every run of this test
// start from results nobody cached yet: Go keys a test result on the test
// binary's content, so each package puts the nonce into its binary.
var fixture = map[string]string{
	"go.work":         "go 1.26\n\nuse (\n\t./svc\n\t./tools\n)\n",
	"README.md":       "fixture\n",
	"gitops/app.yaml": "image: app:1\n",

	"svc/go.mod":  "module example.com/svc\n\ngo 1.26\n",
	"svc/main.go": "package main\n\nconst nonce = \"{{nonce}}\"\n\nfunc main() { println(\"v1\", nonce) }\n",
	"svc/main_test.go": `package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Builds and runs the service, as the real service's binary tests do. The
// test binary leaves out main(), which the build below reads: opening the
// sources lets Go's test cache see them.
func TestBinary(t *testing.T) {
	srcs, _ := filepath.Glob("*.go")
	for _, f := range append(srcs, "go.mod") {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	bin := filepath.Join(t.TempDir(), "svc")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "v") {
		t.Fatalf("run: %q, %v", out, err)
	}
}
`,

	"tools/go.mod": "module github.com/andrelair-platform/platform-demo/tools\n\ngo 1.26\n",
	"tools/policy/policy_test.go": `package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

const nonce = "{{nonce}}"

// Reads gitops/, outside its module, as the manifest checks do.
func TestGitops(t *testing.T) {
	t.Log(nonce)
	root := inputstest.Need(t, inputs.Gitops)
	if _, err := os.ReadFile(filepath.Join(root, "gitops", "app.yaml")); err != nil {
		t.Fatal(err)
	}
}
`,
	"tools/unrelated/unrelated_test.go": "package unrelated\n\nimport \"testing\"\n\nconst nonce = \"{{nonce}}\"\n\nfunc TestNothingOutside(t *testing.T) { t.Log(nonce) }\n",
	"tools/secrets/secrets_test.go": `package secrets

import (
	"os"
	"strings"
	"testing"
)

const nonce = "{{nonce}}"

// Fails if any credential reached the test binary.
func TestSeesNoSecrets(t *testing.T) {
	t.Log(nonce)
	for _, kv := range os.Environ() {
		if strings.Contains(kv, "SENTINEL") {
			name, _, _ := strings.Cut(kv, "=")
			t.Errorf("the test binary can read %s", name)
		}
	}
}
`,
}

// newFixture writes the fixture, with this tree's inputs and inputstest, into a
// fresh git repository.
func newFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	b := make([]byte, 8)
	rand.Read(b)
	nonce := hex.EncodeToString(b)
	files := map[string]string{}
	for _, pkg := range []string{"inputs", "inputstest"} {
		src, err := os.ReadFile(filepath.Join("..", "internal", pkg, pkg+".go"))
		if err != nil {
			t.Fatal(err)
		}
		files["tools/internal/"+pkg+"/"+pkg+".go"] = string(src)
	}
	for name, content := range fixture {
		files[name] = strings.ReplaceAll(content, "{{nonce}}", nonce)
	}
	for name, content := range files {
		write(t, root, name, content)
	}
	if out, err := exec.Command("git", "init", "-q", root).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	return root
}

func readFile(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// Go's test cache does not keep a result that read a file changed in the
	// last two seconds; a real edit is older than the next run.
	old := time.Now().Add(-10 * time.Second)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

// TestCacheFollowsInputs proves the gate cache-correct: after a change, the
// tests whose inputs changed run again, and only they.
func TestCacheFollowsInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a fixture workspace")
	}
	root := newFixture(t)
	const (
		svc       = "example.com/svc"
		policy    = "github.com/andrelair-platform/platform-demo/tools/policy"
		unrelated = "github.com/andrelair-platform/platform-demo/tools/unrelated"
		secrets   = "github.com/andrelair-platform/platform-demo/tools/secrets"
	)
	steps := []struct {
		name   string
		change func()
		full   bool
		ran    []string
	}{
		{name: "first run", ran: []string{svc, policy, unrelated, secrets}},
		{name: "nothing changed"},
		{name: "a change to the service reruns the tests that build it",
			change: func() {
				write(t, root, "svc/main.go", strings.Replace(readFile(t, root, "svc/main.go"), "v1", "v2", 1))
			},
			ran: []string{svc}},
		{name: "a change to gitops/ reruns the manifest checks",
			change: func() { write(t, root, "gitops/app.yaml", "image: app:2\n") },
			ran:    []string{policy}},
		{name: "an unrelated change reruns neither",
			change: func() { write(t, root, "README.md", "changed\n") }},
		{name: "a clone elsewhere reruns only what reads its own files by time",
			// The service's test opens its sources, which Go's cache tracks
			// by modification time, new in a copy; the others' results
			// carry over, since neither the digests nor the test binaries
			// (-trimpath) depend on where the clone is.
			change: func() {
				elsewhere := filepath.Join(t.TempDir(), "elsewhere")
				if err := os.CopyFS(elsewhere, os.DirFS(root)); err != nil {
					t.Fatal(err)
				}
				root = elsewhere
			},
			ran: []string{svc}},
		{name: "TEST_FULL reruns everything", full: true, ran: []string{svc, policy, unrelated, secrets}},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		events := filepath.Join(t.TempDir(), "gate-test.json")
		res, err := Run(context.Background(), Options{Root: root, Full: st.full, Events: events, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatalf("%s: Run() = %v", st.name, err)
		}
		// The events file keeps go test's own record, each test's time
		// included.
		if b, err := os.ReadFile(events); err != nil || !strings.Contains(string(b), `"Action":"pass","Package":"`+unrelated+`","Test":"TestNothingOutside","Elapsed":`) {
			t.Errorf("%s: the events file holds %q (%v), want go test -json's pass of TestNothingOutside", st.name, b, err)
		}
		got := res.ran()
		slices.Sort(got)
		want := slices.Clone(st.ran)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: ran %v, want %v", st.name, got, want)
		}
	}
}

// TestTestsSeeNoSecrets proves that a test binary run by the gate cannot
// read the pipeline's credentials, and that the check would see them.
func TestTestsSeeNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a fixture workspace")
	}
	root := newFixture(t)
	environ := append(os.Environ(),
		"GITOPS_TOKEN=SENTINEL1", "REGISTRY_PASSWORD=SENTINEL2", "ARGOCD_AUTH_TOKEN=SENTINEL3",
		"GITOPS_APP_PRIVATE_KEY=SENTINEL4", "GITHUB_TOKEN=SENTINEL5", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=SENTINEL6")
	opts := Options{Root: root, Run: "TestSeesNoSecrets", Stdout: io.Discard, Stderr: io.Discard}

	opts.Env = Environ(environ, []string{"GITOPS_TOKEN"})
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run() with the secrets removed = %v, want the fixture to see none", err)
	}
	if !slices.Contains(res.ran(), "github.com/andrelair-platform/platform-demo/tools/secrets") {
		t.Fatalf("the fixture's secret check did not run: %v", res.Packages)
	}

	// The control: the same check, given one secret, fails. It runs in
	// full: the check lists the environment, which Go's test cache does
	// not record (only the variables a test looks up by name).
	opts.Full = true
	opts.Env = append(Environ(environ, nil), "GITOPS_TOKEN=SENTINEL1")
	if _, err := Run(context.Background(), opts); err == nil {
		t.Error("Run() with GITOPS_TOKEN in the environment passed: the fixture's check cannot fail")
	}
}

func TestEnviron(t *testing.T) {
	in := []string{"PATH=/bin", "HOME=/root", "GITOPS_TOKEN=x", "REGISTRY_PASSWORD=x", "ARGOCD_AUTH_TOKEN=x", "GITOPS_APP_PRIVATE_KEY=x",
		"GITHUB_TOKEN=x", "MY_SECRET=x", "GOFLAGS=-x", "GITOPS_REPO=o/r", "CUSTOM_CREDENTIAL=x"}
	got := Environ(in, []string{"CUSTOM_CREDENTIAL"})
	want := []string{"PATH=/bin", "HOME=/root", "GOFLAGS=-x", "GITOPS_REPO=o/r"}
	if !slices.Equal(got, want) {
		t.Errorf("Environ() = %v, want %v", got, want)
	}
	// Each `go tool` or `go test` level puts GOROOT/bin in front again.
	nested := Environ([]string{"PATH=/go/bin:/go/bin:/usr/bin:/go/bin:/bin"}, nil)
	if want := []string{"PATH=/go/bin:/usr/bin:/bin"}; !slices.Equal(nested, want) {
		t.Errorf("Environ(nested PATH) = %v, want %v", nested, want)
	}
}

// TestPatterns guards what the gate tests: every module of go.work but the
// root, which holds the magefile and tools only.
func TestPatterns(t *testing.T) {
	root := t.TempDir()
	work := "go 1.26\n\nuse (\n\t.\n\t./services/b\n\t./services/a\n\t./tools\n)\n"
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte(work), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Patterns(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"./services/b/...", "./services/a/...", "./tools/..."}) {
		t.Errorf("Patterns(%q) = %v", work, got)
	}
}

func TestWithGORACE(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"unset", []string{"HOME=/h"}, "GORACE=atexit_sleep_ms=0"},
		{"empty", []string{"GORACE="}, "GORACE=atexit_sleep_ms=0"},
		{"the user's options kept", []string{"GORACE=halt_on_error=1"}, "GORACE=halt_on_error=1 atexit_sleep_ms=0"},
		{"the user's sleep wins", []string{"GORACE=atexit_sleep_ms=500"}, "GORACE=atexit_sleep_ms=500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withGORACE(tt.env)
			var gorace []string
			for _, kv := range got {
				if strings.HasPrefix(kv, "GORACE=") {
					gorace = append(gorace, kv)
				}
			}
			if len(gorace) != 1 || gorace[0] != tt.want {
				t.Errorf("withGORACE(%q) has %q, want exactly %q", tt.env, gorace, tt.want)
			}
		})
	}
}
