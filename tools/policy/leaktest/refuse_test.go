package leaktest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
)

// TestFakeSecretsRefused runs the targets a pipeline runs with secrets that
// cannot be real, as `gh secret set NAME --body -`, `echo "$TOKEN" | gh
// secret set`, a quoted paste or a placeholder store them, and requires each
// target to refuse before it sends anything, with the fix spelled out whole:
// the one trap the first setup lost half an hour to must read clearly.
func TestFakeSecretsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the mage targets as subprocesses")
	}
	root := repoRoot(t)
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.CreateRepo(gitopsRepo, "main", map[string]string{gitopsPath: deployment})
	var registryRequests atomic.Int64
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		registryRequests.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer reg.Close()
	image := strings.TrimPrefix(reg.URL, "http://") + "/platform-demo:0123abc@sha256:" + strings.Repeat("0", 64)
	base := map[string]string{
		"GITOPS_REPO": gitopsRepo, "GITHUB_API_URL": gh.URL, "GITOPS_TOKEN": gitopsToken,
		"KO_DOCKER_REPO": strings.TrimPrefix(reg.URL, "http://"), "REGISTRY_USERNAME": registryUser, "REGISTRY_PASSWORD": registryPassword,
		"PUBLISH_BASE": "local", "PIPELINE_STATE_DIR": t.TempDir(),
	}
	values := []struct {
		name, value string
		want        string
	}{
		{"the --body - trap", "-", `is the literal "-" (1 character)`},
		{"the --body - trap with a newline", "-\n", `is the literal "-\n"`},
		{"a newline", gitopsToken + "\n", "ends with a newline"},
		{"quotes", `"` + gitopsToken + `"`, "wrapped in quotes"},
		{"a placeholder", "changeme", "too short to be real"},
		{"nothing", "", "empty"},
	}
	tests := []struct {
		target  []string
		setting string
	}{
		{[]string{"bump", image}, "GITOPS_TOKEN"},
		{[]string{"ci"}, "GITOPS_TOKEN"},
		{[]string{"publish"}, "REGISTRY_PASSWORD"},
		{[]string{"ci"}, "REGISTRY_PASSWORD"},
	}
	for _, tt := range tests {
		for _, v := range values {
			t.Run(strings.Join(tt.target[:1], " ")+" with "+tt.setting+" set to "+v.name, func(t *testing.T) {
				env := map[string]string{}
				for k, val := range base {
					env[k] = val
				}
				env[tt.setting] = v.value
				// Inside Actions, pushing to main: mage ci deploys.
				env["GITHUB_ACTIONS"], env["GITHUB_EVENT_NAME"], env["GITHUB_REF"] = "true", "push", "refs/heads/main"
				gh.ResetCounts()
				registryRequests.Store(0)
				out, err := mage(t, root, env, tt.target...)
				if err == nil {
					t.Fatalf("mage %s succeeded with %s=%q:\n%s", tt.target[0], tt.setting, v.value, out)
				}
				want := v.want
				if want == "empty" {
					want = map[string]string{"GITOPS_TOKEN": "no credentials to write " + gitopsRepo, "REGISTRY_PASSWORD": "REGISTRY_PASSWORD is empty"}[tt.setting]
				}
				if !strings.Contains(out, want) {
					t.Errorf("mage %s with %s=%q does not say %q:\n%s", tt.target[0], tt.setting, v.value, want, out)
				}
				if v.value != "" && !strings.Contains(out, "| gh secret set "+tt.setting+" -R ") {
					t.Errorf("mage %s with %s=%q does not give the fix whole:\n%s", tt.target[0], tt.setting, v.value, out)
				}
				if strings.Contains(out, "***") {
					t.Errorf("mage %s: redaction garbled the message:\n%s", tt.target[0], out)
				}
				if n, r := gh.Requests(), registryRequests.Load(); n+int(r) != 0 {
					t.Errorf("mage %s sent %d requests to GitHub and %d to the registry, want none before the refusal", tt.target[0], n, r)
				}
			})
		}
	}
}
