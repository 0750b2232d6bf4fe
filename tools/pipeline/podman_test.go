package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
)

// TestPodmanRefusesRemoteImage guards the podman runtime against pulling
// the seed manifest's ghcr.io image: the local loop contacts loopback only.
func TestPodmanRefusesRemoteImage(t *testing.T) {
	root := t.TempDir()
	if err := fixture.Workspace(root, filepath.Join(inputstest.Need(t, inputs.Gitops), "gitops"), fixture.Reference); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LOCAL_RUNTIME": "podman", "LOCAL_REGISTRY_ADDR": "127.0.0.1:0", "PIPELINE_STATE_DIR": filepath.Join(root, ".state")}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := s.Target(fixture.Reference, s.First().Name)
	if err != nil {
		t.Fatal(err)
	}
	p := New(s, nil)
	defer p.Close(context.Background())
	_, err = p.Deployment(tg).Rollout(context.Background())
	var remote *rollout.RemoteImageError
	if !errors.As(err, &remote) || remote.Image != "ghcr.io/andrelair-platform/platform-demo:latest" {
		t.Fatalf("Rollout() error = %v, want a RemoteImageError for the seed's ghcr.io image", err)
	}
}
