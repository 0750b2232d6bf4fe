package doctor_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/doctor"
)

var (
	appKeyOnce sync.Once
	appKey     *rsa.PrivateKey
)

// appPEM is an App's private key as GitHub hands it out: PKCS#1 in PEM.
func appPEM(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	appKeyOnce.Do(func() {
		var err error
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return appKey, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey)}))
}

// TestApp guards the checks of the GitHub App path, each failure with its
// fix: the App installed, its key, its id; a key given as a file path too.
func TestApp(t *testing.T) {
	key, keyPEM := appPEM(t)
	keyFile := filepath.Join(t.TempDir(), "app.private-key.pem")
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}))
	tests := []struct {
		name    string
		id, key string
		install bool
		mode    string
		api     doctor.Status
		found   []string
		fix     []string
		target  doctor.Status
	}{
		{name: "installed", id: "42", key: keyPEM, install: true, api: doctor.OK,
			found: []string{"App 42, installation 4242", "contents: write"}, target: doctor.OK},
		{name: "installed, key as a file, pull requests", id: "42", key: keyFile, install: true, mode: "pr", api: doctor.OK,
			found: []string{"pull requests: write"}, target: doctor.OK},
		{name: "not installed", id: "42", key: keyPEM, api: doctor.Fail,
			found: []string{"404"}, fix: []string{"not installed on " + gitopsRepo, "Only select repositories"}, target: doctor.Warn},
		{name: "key of another App", id: "42", key: otherPEM, install: true, api: doctor.Fail,
			fix: []string{"not a key of App 42"}, target: doctor.Warn},
		{name: "unknown id", id: "7", key: keyPEM, install: true, api: doctor.Fail,
			fix: []string{"no App has the id 7"}, target: doctor.Warn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := gitopsServer(t)
			gh.AddApp(42, &key.PublicKey)
			if tt.install {
				gh.InstallApp(42, 4242, gitopsRepo)
			}
			env := githubEnv(gh, "")
			env["GITOPS_APP_ID"], env["GITOPS_APP_PRIVATE_KEY"] = tt.id, tt.key
			if tt.mode != "" {
				env["BUMP_MODE"] = tt.mode
			}
			r := run(t, doctor.Options{Settings: load(t, env), HTTPClient: httpClient}, doctor.CheckToken, doctor.CheckGitHub, doctor.CheckGitops)
			want(t, r, doctor.CheckToken, doctor.OK, []string{"GitHub App " + tt.id}, nil)
			want(t, r, doctor.CheckGitHub, tt.api, tt.found, tt.fix)
			want(t, r, doctor.CheckGitops, tt.target, nil, nil)
			if strings.Contains(r.Text(), "PRIVATE KEY") || strings.Contains(r.Text(), "ghs_") {
				t.Errorf("the report shows the key or a minted token:\n%s", r.Text())
			}
		})
	}
}

// TestAppKeyRefused guards the key's setting: a value that is neither a key
// nor a file is refused by config with the fix, and never quoted.
func TestAppKeyRefused(t *testing.T) {
	_, err := loadErr(t, map[string]string{"GITOPS_APP_ID": "42", "GITOPS_APP_PRIVATE_KEY": "SENTINEL-not-a-key"})
	if err == nil || !strings.Contains(err.Error(), "gh secret set GITOPS_APP_PRIVATE_KEY < app.private-key.pem") || strings.Contains(err.Error(), "SENTINEL") {
		t.Errorf("config.Load(bad key) error = %v, want the fix and not the value", err)
	}
	_, err = loadErr(t, map[string]string{"GITOPS_APP_ID": "Iv1.abc", "GITOPS_APP_PRIVATE_KEY": "x"})
	if err == nil || !strings.Contains(err.Error(), "not its client ID") {
		t.Errorf("config.Load(client id) error = %v, want the App ID explained", err)
	}
}
