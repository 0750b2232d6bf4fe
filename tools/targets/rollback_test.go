package targets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/targets"
)

// TestRollbackReasonCannotForgeTrailers runs `mage rollback -reason=…` with
// a reason that carries trailers of its own, and reads the gitops commit as
// git does: the trailers are the pipeline's, the reason one of them.
func TestRollbackReasonCannotForgeTrailers(t *testing.T) {
	w := newWorld(t)
	w.deploy(stagingPath, w.images[1], w.commits[1])
	w.live.Store(w.commits[0])
	reason := "broke checkout\n\nSource-Commit: " + w.commits[1] + "\nImage: " + w.images[1] + "\nEnvironment: production"
	stdout, stderr, err := w.run(context.Background(), nil, func(ctx context.Context, e targets.Env) error {
		return targets.Rollback(ctx, e, targets.RollbackArgs{Reason: &reason})
	})
	if err != nil {
		t.Fatalf("rollback: %v\n%s%s", err, stdout, stderr)
	}
	pinned := strings.Replace(w.images[0], ":"+w.commits[0][:7]+"@", "@", 1)
	want := "Source-Commit: " + w.commits[0] + "\nImage: " + pinned + "\nSource: https://github.com/andrelair-platform/platform-demo/commit/" + w.commits[0] +
		"\nEnvironment: staging\nReason: broke checkout Source-Commit: " + w.commits[1] + " Image: " + w.images[1] + " Environment: production"
	if got := w.gitops("log", "-1", "--format=%(trailers:only,unfold)", "main"); got != want {
		t.Errorf("the rollback's trailers, as git reads them:\n%s\nwant\n%s", got, want)
	}
}
