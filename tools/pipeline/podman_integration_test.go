//go:build integration

package pipeline

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
)

// TestIntegrationLocalLoopPodman runs the local loop with LOCAL_RUNTIME=podman:
// the commit goes live in a podman pod played from the gitops Deployment.
func TestIntegrationLocalLoopPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed: .ci/run installs it")
	}
	ctx := context.Background()
	root := clone(t)
	s := localSettings(t, root)
	s.LocalRuntime = "podman"
	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, Options{Settings: s, Build: info})
	if err != nil {
		t.Fatalf("Run() error = %v\n%s", err, sum.Text())
	}
	if r := result(t, sum, fixture.Reference); r.LiveCommit != info.Commit {
		t.Errorf("live commit %q, want %q\n%s", r.LiveCommit, info.Commit, sum.Text())
	}
	found := false
	for _, st := range sum.Stages {
		found = found || (st.Name == "rollout" && strings.Contains(st.Detail, "podman pod ready"))
	}
	if !found {
		t.Errorf("stages %s, want a rollout to a podman pod\n%s", stages(sum), sum.Text())
	}
}
