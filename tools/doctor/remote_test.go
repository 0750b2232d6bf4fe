package doctor_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/doctor"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
)

func TestNetrc(t *testing.T) {
	tests := []struct {
		name   string
		netrc  string // "" writes no file
		apiURL string
		status doctor.Status
		found  string
	}{
		{name: "no file", status: doctor.OK, found: "no ~/.netrc"},
		{
			// The runner's ~/.netrc that curl sent in place of the token.
			name: "entry for the API host", netrc: "machine api.github.com\n  login x-access-token\n  password SENTINEL-netrc-password\n",
			status: doctor.Warn, found: "has a `machine api.github.com` entry",
		},
		{name: "one-line entry", netrc: "machine github.com login a password b machine api.github.com login c password d\n", status: doctor.Warn, found: "`machine api.github.com`"},
		{name: "default entry", netrc: "default login x password y\n", status: doctor.Warn, found: "a `default` entry"},
		{name: "other host only", netrc: "machine github.com login x password y\n", status: doctor.OK, found: "no entry for api.github.com"},
		{name: "enterprise host", netrc: "machine github.example.com login x password y\n", apiURL: "https://github.example.com/api/v3/", status: doctor.Warn, found: "`machine github.example.com`"},
		{name: "macro body is not an entry", netrc: "macdef init\nmachine api.github.com\n\nmachine github.com login x\n", status: doctor.OK, found: "no entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.netrc != "" {
				if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte(tt.netrc), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"GITOPS_REPO": gitopsRepo, "GITOPS_TOKEN": sentinelToken}
			if tt.apiURL != "" {
				env["GITHUB_API_URL"] = tt.apiURL
			}
			r := run(t, doctor.Options{Settings: load(t, env), Home: home}, doctor.CheckNetrc)
			var fix []string
			if tt.status == doctor.Warn {
				fix = []string{"--no-netrc"}
			}
			want(t, r, doctor.CheckNetrc, tt.status, []string{tt.found}, fix)
			assertNoSecrets(t, r.Text(), "SENTINEL-netrc-password")
		})
	}
}

func TestVerifyURL(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/version" {
			http.NotFound(w, req)
			return
		}
		io.WriteString(w, `{"version":"77b10fa","commit":"77b10fa9cd12d563820e1230a4fdceccfb199718"}`)
	}))
	defer live.Close()
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>please log in</html>")
	}))
	defer login.Close()
	// A service that never answers: the check's timeout must end the wait.
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { <-req.Context().Done() }))
	defer hung.Close()

	tests := []struct {
		name   string
		url    string
		status doctor.Status
		found  []string
		fix    string
	}{
		{name: "live", url: live.URL, status: doctor.OK, found: []string{"runs commit 77b10fa9cd12d563820e1230a4fdceccfb199718 (version 77b10fa)"}},
		{name: "closed port", url: closedURL(t), status: doctor.Fail, found: []string{"/version: connection refused"}, fix: "check VERIFY_URL"},
		{name: "not the service", url: login.URL, status: doctor.Fail, found: []string{"answer is not JSON", "text/html"}, fix: "check VERIFY_URL"},
		{name: "no answer", url: hung.URL, status: doctor.Fail, found: []string{"no answer within 200ms"}, fix: "check VERIFY_URL"},
		{name: "credentials in the URL", url: "http://user:SENTINEL-url-password@" + closedAddr(t), status: doctor.Fail, found: []string{"http://" + "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := load(t, map[string]string{"GITOPS_REPO": gitopsRepo, "VERIFY_URL": tt.url})
			r := run(t, doctor.Options{Settings: s, HTTPClient: httpClient, Timeout: 200 * time.Millisecond}, doctor.CheckVerify)
			var fix []string
			if tt.fix != "" {
				fix = []string{tt.fix}
			}
			want(t, r, doctor.CheckVerify, tt.status, tt.found, fix)
			assertNoSecrets(t, r.Text(), "SENTINEL-url-password")
		})
	}
}

// In local mode the live version is the local rollout's, on LOCAL_ADDR,
// which is not serving before the first `mage ci`.
func TestVerifyLocal(t *testing.T) {
	s := load(t, map[string]string{"LOCAL_ADDR": closedAddr(t)})
	r := run(t, doctor.Options{Settings: s, HTTPClient: httpClient}, doctor.CheckVerify)
	want(t, r, doctor.CheckVerify, doctor.OK, []string{"local mode: nothing live on", "ci serves the local rollout there"}, nil)
}

// Every environment's service is asked, each on its own row: a
// production that does not answer is a failure even when staging is live,
// and its fix names the variable that sets its URL.
func TestVerifyEveryEnvironment(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, `{"version":"77b10fa","commit":"77b10fa9cd12d563820e1230a4fdceccfb199718"}`)
	}))
	defer live.Close()
	root := t.TempDir()
	if err := fixture.Workspace(root, "", fixture.Reference); err != nil {
		t.Fatal(err)
	}
	envs := "environments:\n  - name: staging\n    path: manifests/app/00-deployment.yaml\n  - name: production\n    path: manifests/app-production/00-deployment.yaml\n"
	if err := os.MkdirAll(filepath.Join(root, "gitops"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, config.EnvironmentsFile), []byte(envs), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GITOPS_REPO": gitopsRepo, "PIPELINE_STATE_DIR": t.TempDir(),
		"VERIFY_URL": live.URL, "VERIFY_URL_PRODUCTION": closedURL(t),
	}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, doctor.Options{Settings: s, HTTPClient: httpClient, Timeout: 500 * time.Millisecond}, doctor.CheckVerify)
	if len(r.Rows) != 2 {
		t.Fatalf("%d rows, want one per environment:\n%s", len(r.Rows), r.Text())
	}
	staging, production := r.Rows[0], r.Rows[1]
	if staging.Status != doctor.OK || !strings.HasPrefix(staging.Found, "platform-demo in staging: ") || !strings.Contains(staging.Found, "runs commit 77b10fa9") {
		t.Errorf("staging row = %s %q", staging.Status, staging.Found)
	}
	if production.Status != doctor.Fail || !strings.HasPrefix(production.Found, "platform-demo in production: ") || !strings.Contains(production.Found, "connection refused") {
		t.Errorf("production row = %s %q", production.Status, production.Found)
	}
	if !strings.Contains(production.Fix, "check VERIFY_URL_PRODUCTION") {
		t.Errorf("production fix = %q, want it to name VERIFY_URL_PRODUCTION", production.Fix)
	}
}

func TestArgoCD(t *testing.T) {
	argo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if req.Header.Get("Authorization") != "Bearer "+sentinelArgo {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid session: token signature is invalid","code":16,"message":"invalid session: token signature is invalid"}`)
			return
		}
		io.WriteString(w, `{"metadata":{"name":"platform-demo"}}`)
	}))
	defer argo.Close()

	tests := []struct {
		name   string
		env    map[string]string
		status doctor.Status
		found  []string
	}{
		{name: "not set", env: map[string]string{}, status: doctor.OK, found: []string{"not set: no refresh after the bump"}},
		{
			name: "token accepted", env: map[string]string{"ARGOCD_SERVER": argo.URL, "ARGOCD_APP": "platform-demo", "ARGOCD_AUTH_TOKEN": sentinelArgo},
			status: doctor.OK, found: []string{"accepts the token (SENT… (38 characters))", `application "platform-demo"`},
		},
		{
			name: "token rejected", env: map[string]string{"ARGOCD_SERVER": argo.URL, "ARGOCD_APP": "platform-demo", "ARGOCD_AUTH_TOKEN": "SENTINEL-wrong-argocd-token-0123456789"},
			status: doctor.Fail, found: []string{"the token was rejected (401", "argocd account generate-token"},
		},
		{
			name: "server unreachable", env: map[string]string{"ARGOCD_SERVER": closedURL(t), "ARGOCD_APP": "platform-demo", "ARGOCD_AUTH_TOKEN": sentinelArgo},
			status: doctor.Fail, found: []string{"cannot reach Argo CD"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["GITOPS_REPO"] = gitopsRepo
			r := run(t, doctor.Options{Settings: load(t, tt.env), HTTPClient: httpClient}, doctor.CheckArgo)
			want(t, r, doctor.CheckArgo, tt.status, tt.found, nil)
			assertNoSecrets(t, r.Text(), sentinelArgo, tt.env["ARGOCD_AUTH_TOKEN"])
		})
	}
}
