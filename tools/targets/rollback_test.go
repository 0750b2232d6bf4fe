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

// TestEveryWritePinsADigest guards promote's premise, that git deploys
// digests only: a rollback to a tag, and a bump of one, write the digest the
// tag names in the registry, or refuse with the fix.
func TestEveryWritePinsADigest(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	image := func() string {
		t.Helper()
		for _, line := range strings.Split(w.manifest(stagingPath), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "image: "); ok {
				return v
			}
		}
		t.Fatal("no image in staging's manifest")
		return ""
	}

	w.deploy(stagingPath, w.images[1], w.commits[1])
	w.live.Store(w.commits[0])
	tag := w.host + "/platform-demo:" + w.commits[0][:7]
	stdout, stderr, err := w.run(ctx, nil, func(ctx context.Context, e targets.Env) error {
		return targets.Rollback(ctx, e, targets.RollbackArgs{To: &tag})
	})
	if err != nil || image() != w.images[0] {
		t.Errorf("rollback -to=%s: %v; manifest deploys %s, want %s\n%s%s", tag, err, image(), w.images[0], stdout, stderr)
	}

	w.live.Store(w.commits[1])
	tag = w.host + "/platform-demo:" + w.commits[1][:7]
	stdout, stderr, err = w.run(ctx, nil, func(ctx context.Context, e targets.Env) error { return targets.Bump(ctx, e, tag, nil) })
	if err != nil || image() != w.images[1] || !strings.Contains(stdout, "bumped image to "+w.images[1]) {
		t.Errorf("bump %s: %v; manifest deploys %s, want %s\n%s%s", tag, err, image(), w.images[1], stdout, stderr)
	}

	for _, tt := range []struct{ to, want string }{
		{w.host + "/platform-demo:0000000", "image " + w.host + "/platform-demo:0000000 is not in its registry: publish it first"},
		{"garbage", `-to="garbage" is neither a commit in the history of ` + stagingPath + " nor an image reference: give a source commit it deployed (7 to 40 hex characters) or an image with its registry, such as " + w.host + "/platform-demo:<tag>@sha256:<digest>"},
	} {
		before := w.gitops("rev-parse", "main")
		stdout, stderr, err := w.run(ctx, nil, func(ctx context.Context, e targets.Env) error {
			return targets.Rollback(ctx, e, targets.RollbackArgs{To: &tt.to})
		})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("rollback -to=%s = %v, want %q\n%s%s", tt.to, err, tt.want, stdout, stderr)
		}
		if after := w.gitops("rev-parse", "main"); after != before {
			t.Errorf("rollback -to=%s wrote gitops commit %s", tt.to, after)
		}
	}
}
