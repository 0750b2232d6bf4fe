package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
)

// TestLocalRolloutOfAnUnreadableManifest guards `mage local` and the
// rollout stage against a manifest edited by hand into invalid YAML: they
// report it as status, promote and rollback do, with the line counted from
// 1 and the fix, not as a decoding error a line off.
func TestLocalRolloutOfAnUnreadableManifest(t *testing.T) {
	ctx := context.Background()
	root := clone(t)
	s := localSettings(t, root)
	p := New(s, nil)
	defer p.Close(ctx)
	tg, err := s.Target(fixture.Reference, "staging")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.InitGitops(ctx, tg.Branch, tg.Path); err != nil {
		t.Fatal(err)
	}
	content, _, err := gitops.Read(ctx, s.LocalGitopsDir(), "main", tg.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(content), "\n")
	lines[15] = "  labels: ["
	work := filepath.Join(t.TempDir(), "work")
	git(t, root, "clone", "-q", s.LocalGitopsDir(), work)
	if err := os.WriteFile(filepath.Join(work, tg.Path), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "commit", "-qam", "by hand")
	git(t, work, "push", "-q", "origin", "main")

	_, err = p.Deployment(tg).Rollout(ctx)
	want := "the manifest of platform-demo in staging, " + tg.Path + ", cannot be read at gitops "
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "not YAML: line 16: did not find expected ',' or ']'") {
		t.Errorf("Rollout() = %v, want %q with line 16", err, want)
	}
}
