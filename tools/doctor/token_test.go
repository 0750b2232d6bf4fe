package doctor_test

import (
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/doctor"
)

// The right way to set the secret, which every token fix must name.
const printfFix = `printf '%s' "$VALUE" | gh secret set GITOPS_TOKEN -R andrelair-platform/platform-demo`

func TestTokenShape(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		status doctor.Status
		found  []string
		fix    []string
	}{
		{
			name: "unset", token: "", status: doctor.Fail,
			found: []string{"unset"}, fix: []string{"classic PAT with the `repo` scope", printfFix},
		},
		{
			// The seed's trap: `gh secret set --body -` stores "-".
			name: "dash", token: "-", status: doctor.Fail,
			found: []string{`the literal "-" (1 character)`, "gh secret set GITOPS_TOKEN --body -", "does not read standard input", printfFix},
		},
		{
			name: "dash with newline", token: "-\n", status: doctor.Fail,
			found: []string{`the literal "-\n"`, "--body -", printfFix},
		},
		{
			name: "short", token: "changeme", status: doctor.Fail,
			found: []string{"(8 characters)", "too short", "gh secret set GITOPS_TOKEN --body -", printfFix},
		},
		{
			// `echo "$TOKEN" | gh secret set` stores the newline too.
			name: "trailing newline", token: sentinelToken + "\n", status: doctor.Fail,
			found: []string{"ghp_… (41 characters)", "ends with a newline", "echo", printfFix},
		},
		{
			name: "leading space", token: " " + sentinelToken, status: doctor.Fail,
			found: []string{"starts with whitespace", printfFix},
		},
		{
			name: "space inside", token: "ghp_SENTINEL12345 67890abcdefghijklmnopqr", status: doctor.Fail,
			found: []string{"contains whitespace"},
		},
		{
			name: "classic", token: sentinelToken, status: doctor.OK,
			found: []string{"classic personal access token", "ghp_… (40 characters)"},
		},
		{
			name: "fine-grained", token: "github_pat_11SENTINEL0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXY", status: doctor.OK,
			found: []string{"fine-grained personal access token", "gith… (93 characters)"},
		},
		{
			// The workflow's own GITHUB_TOKEN cannot write another repository.
			name: "actions token", token: "ghs_SENTINEL1234567890abcdefghijklmnopqr", status: doctor.OK,
			found: []string{"GitHub App installation token", "expires an hour after"}, fix: []string{"GITHUB_TOKEN cannot write another repository"},
		},
		{
			name: "oauth token", token: "gho_SENTINEL1234567890abcdefghijklmnopqr", status: doctor.OK,
			found: []string{"OAuth app token"},
		},
		{
			name: "unknown prefix", token: "SENTINEL1234567890abcdefghijklmnopqrstuvwxyz", status: doctor.Warn,
			found: []string{"not a known GitHub token prefix"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := load(t, map[string]string{
				"GITOPS_REPO": "andrelair-platform/minicloud-gitops", "KO_DOCKER_REPO": "ghcr.io/andrelair-platform",
				"GITOPS_TOKEN": tt.token,
			})
			r := run(t, doctor.Options{Settings: s}, doctor.CheckToken)
			want(t, r, doctor.CheckToken, tt.status, tt.found, tt.fix)
			if len(tt.token) >= 20 && strings.Contains(r.Text(), strings.TrimSpace(tt.token)) {
				t.Errorf("report shows the token:\n%s", r.Text())
			}
			if got, wantFailed := r.Failed(), tt.status == doctor.Fail; got != wantFailed {
				t.Errorf("Failed() = %v, want %v", got, wantFailed)
			}
		})
	}
}

// In local mode the GitHub and registry credentials are not used, so their
// absence is not a problem.
func TestLocalModeNeedsNoCredentials(t *testing.T) {
	s := load(t, map[string]string{})
	r := run(t, doctor.Options{Settings: s}, doctor.CheckToken, doctor.CheckGitHub, doctor.CheckNetrc)
	for _, check := range []string{doctor.CheckToken, doctor.CheckGitHub, doctor.CheckNetrc} {
		want(t, r, check, doctor.OK, []string{"local mode: not needed"}, nil)
	}
}
