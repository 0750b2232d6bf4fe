package targets_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoGiteaInTargets guards the mage binary against the integration
// suite's Gitea: tools/internal/giteatest builds Gitea from source and runs
// it, which no target needs. Go rebuilds this test, and so runs it again,
// whenever the targets' imports change.
func TestNoGiteaInTargets(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/internal/giteatest") {
			t.Errorf("the targets import %s: only the integration tests may", pkg)
		}
	}
}
