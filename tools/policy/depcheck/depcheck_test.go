package depcheck

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

const module = "github.com/andrelair-platform/platform-demo"

// goList runs go list in the repository and returns its lines.
func goList(t *testing.T, root string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// testCode reports whether an import path is test code: package testing,
// or a package of this repository made for tests (a name ending in test,
// such as githubtest and inputstest, or the fixtures).
func testCode(path string) bool {
	if path == "testing" {
		return true
	}
	if !strings.HasPrefix(path, module+"/") {
		return false
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	return strings.HasSuffix(last, "test") || strings.Contains(path, "/internal/fixture")
}

// TestTargetsLinkNoTestCode guards the binary of `go tool mage`: what the
// magefile builds with the mage tag links neither package testing nor a
// stand-in. A test helper imported by a production package would put both
// in every target users run.
func TestTargetsLinkNoTestCode(t *testing.T) {
	root := inputstest.Need(t, inputs.Targets, inputs.Services)
	deps := goList(t, root, "-deps", "-tags", "mage", ".")
	if len(deps) < 50 {
		t.Fatalf("go list -deps of the magefile listed %d packages: the check would pass on nothing", len(deps))
	}
	var bad []string
	for _, d := range deps {
		if testCode(d) {
			bad = append(bad, d)
		}
	}
	if len(bad) > 0 {
		// Which package brings each in: the first importer in the list.
		why := goList(t, root, "-deps", "-tags", "mage", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, ".")
		var chains []string
		for _, b := range bad {
			for _, l := range why {
				from, imports, _ := strings.Cut(l, ": ")
				if strings.HasPrefix(from, module) && strings.Contains(" "+imports+" ", " "+b+" ") {
					chains = append(chains, from+" imports "+b)
				}
			}
		}
		t.Errorf("the mage targets link test code: %s\n%s\nmove what production needs out of the test helper (as inputs and inputstest are split)", strings.Join(bad, ", "), strings.Join(chains, "\n"))
	}
}

// TestLayers holds the layering docs/architecture.md states, package by
// package (tests' imports included only where a rule says so).
func TestLayers(t *testing.T) {
	root := inputstest.Need(t, inputs.Targets, inputs.Services)
	lines := goList(t, root, "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "./tools/...", "./services/...")
	if len(lines) < 30 {
		t.Fatalf("go list listed %d packages: the check would pass on nothing", len(lines))
	}
	rules := []struct {
		name string
		// applies says whether the rule holds for package from importing imp.
		broken func(from, imp string) bool
		fix    string
	}{
		{"the services import nothing of the tools", func(from, imp string) bool {
			return strings.HasPrefix(from, module+"/services/") && strings.HasPrefix(imp, module+"/tools/")
		}, "a service builds on services/kit only"},
		{"the tools import only the contract of the kit", func(from, imp string) bool {
			return strings.HasPrefix(from, module+"/tools/") && strings.HasPrefix(imp, module+"/services/") && imp != module+"/services/kit/contract"
		}, "declare what the pipeline needs in services/kit/contract, so that a change to the kit relinks no tool"},
		{"only the magefile imports the targets", func(from, imp string) bool {
			return strings.HasPrefix(from, module+"/tools/") && !strings.HasPrefix(from, module+"/tools/targets") && imp == module+"/tools/targets"
		}, "the targets are the edge: the work packages return what failed, the targets name the fix"},
		{"production packages import no test helper", func(from, imp string) bool {
			// The bench measures against stand-ins; it is a program of its
			// own (tools/cmd/bench), which no target links.
			bench := from == module+"/tools/bench" || from == module+"/tools/cmd/bench"
			return strings.HasPrefix(from, module+"/") && !testCode(from) && !bench && testCode(imp)
		}, "only tests, other test helpers and the bench import them"},
		{"only the bench's own program imports the bench", func(from, imp string) bool {
			return imp == module+"/tools/bench" && from != module+"/tools/cmd/bench"
		}, "mage bench runs tools/cmd/bench as a process, so that no target links the stand-ins"},
	}
	for _, l := range lines {
		from, imports, _ := strings.Cut(l, ": ")
		for _, imp := range strings.Fields(imports) {
			for _, r := range rules {
				if r.broken(from, imp) {
					t.Errorf("%s: %s imports %s: %s", r.name, from, imp, r.fix)
				}
			}
		}
	}
}

// TestRulesCanFail feeds the rules' matcher what a broken tree would list.
func TestRulesCanFail(t *testing.T) {
	for _, p := range []string{"testing", module + "/tools/internal/githubtest", module + "/tools/internal/inputstest", module + "/tools/internal/fixture"} {
		if !testCode(p) {
			t.Errorf("testCode(%q) = false, want true", p)
		}
	}
	for _, p := range []string{"net/http/httptest", module + "/tools/internal/inputs", module + "/tools/bench"} {
		if testCode(p) {
			t.Errorf("testCode(%q) = true, want false", p)
		}
	}
}
