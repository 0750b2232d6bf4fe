package targets_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/targets"
)

// TestURLCredentialsNeverShown guards every URL setting that may carry a
// password or a token (basic auth at an ingress, a token in a git remote):
// promote's verify row, status's live row and its JSON, the errors of the
// gitops repository, the API and Argo CD, and the summary promote writes
// show each address without them.
func TestURLCredentialsNeverShown(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	const secret = "SENTINELpass"
	withPassword := func(u string) string { return strings.Replace(u, "http://", "http://user:"+secret+"@", 1) }
	closed := func() string {
		port, err := loopback.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	credentials := map[string]string{"VERIFY_URL": withPassword(w.service), "VERIFY_URL_PRODUCTION": withPassword(w.service)}
	shown := strings.TrimPrefix(w.service, "http://")

	check := func(t *testing.T, what, out string) {
		t.Helper()
		if strings.Contains(out, secret) {
			t.Errorf("%s shows the password:\n%s", what, out)
		}
	}

	t.Run("promote", func(t *testing.T) {
		stdout, stderr, err := w.run(ctx, credentials, func(ctx context.Context, e targets.Env) error { return targets.Promote(ctx, e, "production", nil, nil) })
		if err != nil {
			t.Fatalf("promote: %v\n%s%s", err, stdout, stderr)
		}
		if !strings.Contains(stdout, "live at http://"+shown) {
			t.Errorf("promote's verify row does not name the address without its password:\n%s", stdout)
		}
		check(t, "promote's output", stdout+stderr)
		check(t, "the state directory (promote-summary.json)", w.stateFiles())
	})

	statusCases := []struct {
		name string
		set  map[string]string
	}{
		{"verify addresses", credentials},
		{"Argo CD server", map[string]string{
			"ARGOCD_SERVER": withPassword(closed()), "ARGOCD_AUTH_TOKEN": "eyJhbGciOiJIUzI1NiJ9.status-test.c2ln", "ARGOCD_APP": "platform-demo",
			"ARGOCD_APP_PRODUCTION": "platform-demo-production",
		}},
		{"a git remote", map[string]string{"GITOPS_REPO": withPassword(closed()) + "/gitops.git"}},
		{"the API", map[string]string{"GITOPS_REPO": "o/gitops", "GITHUB_API_URL": withPassword(closed()) + "/api/v1/"}},
	}
	for _, tt := range statusCases {
		t.Run("status with credentials in "+tt.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				stdout, stderr, err := w.run(ctx, tt.set, func(ctx context.Context, e targets.Env) error { return targets.Status(ctx, e, &asJSON, nil) })
				check(t, fmt.Sprintf("status (json %v)", asJSON), stdout+stderr+fmt.Sprint(err))
				if asJSON && tt.name == "verify addresses" {
					var st struct{ Targets []struct{ URL string } }
					if err := json.Unmarshal([]byte(stdout), &st); err != nil || len(st.Targets) != 2 || st.Targets[1].URL != w.service {
						t.Errorf("status -json: %v, urls %+v; want %s for both", err, st.Targets, w.service)
					}
				}
				if !asJSON && tt.name == "verify addresses" && !strings.Contains(stdout, "  "+w.service+"\n") {
					t.Errorf("status's live row does not name %s:\n%s", w.service, stdout)
				}
			}
		})
	}
}
