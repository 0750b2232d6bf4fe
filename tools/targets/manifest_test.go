package targets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/targets"
)

// TestUnreadableManifest guards status, promote and rollback against a
// gitops manifest edited by hand into something the pipeline cannot read:
// each fails with the cause (and the line, for YAML that does not parse)
// and the fix, where status said "unknown" (exit 0), promote "deploy it
// first" and rollback "nothing to roll back to". Nothing is written.
func TestUnreadableManifest(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"not YAML", func(m string) string {
			lines := strings.Split(m, "\n")
			lines[15] = "  labels: [" // line 16
			return strings.Join(lines, "\n")
		}, []string{"not YAML: line 16: did not find expected ',' or ']'", "fix the file in the gitops repository, or revert the commit that broke it (git revert "}},
		{"container renamed", func(m string) string {
			return strings.Replace(m, "- name: platform-demo\n", "- name: web\n", 1)
		}, []string{`container not found: no container "platform-demo"; found Deployment/platform-demo: web`, "set GITOPS_CONTAINER (or container in services/platform-demo/service.yaml, or of staging in gitops/environments.yaml) to the container to bump"}},
		{"empty", func(string) string { return "" }, []string{"no workload: none of 0 documents"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.commitFile(stagingPath, tt.edit(w.manifest(stagingPath)), "edited by hand")
			head := w.gitops("rev-parse", "main")
			prefix := "the manifest of platform-demo in staging, " + stagingPath + ", cannot be read at gitops " + head[:7] + ": "
			check := func(what, out string, err error, wantErr string) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Errorf("%s = %v, want an error containing %q\n%s", what, err, wantErr, out)
				}
				for _, want := range append([]string{prefix}, tt.want...) {
					if !strings.Contains(out+err.Error(), want) {
						t.Errorf("%s lacks %q:\n%s\n%v", what, want, out, err)
					}
				}
			}

			stdout, stderr, err := w.run(ctx, nil, func(ctx context.Context, e targets.Env) error { return targets.Status(ctx, e, nil, nil) })
			check("status", stdout+stderr, err, "the manifest of platform-demo in staging cannot be read")
			if !strings.Contains(stdout, "staging: unreadable") {
				t.Errorf("status does not say staging is unreadable:\n%s", stdout)
			}

			stdout, stderr, err = w.run(ctx, nil, func(ctx context.Context, e targets.Env) error { return targets.Promote(ctx, e, "production", nil, nil) })
			check("promote", stdout+stderr, err, prefix)

			stdout, stderr, err = w.run(ctx, nil, func(ctx context.Context, e targets.Env) error {
				return targets.Rollback(ctx, e, targets.RollbackArgs{})
			})
			check("rollback", stdout+stderr, err, prefix)

			if after := w.gitops("rev-parse", "main"); after != head {
				t.Errorf("the gitops repository moved from %s to %s", head, after)
			}
		})
	}
}
