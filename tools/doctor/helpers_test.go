package doctor_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/doctor"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
)

// Sentinel secrets: no report may contain them, whole or in base64.
const (
	sentinelToken    = "ghp_SENTINEL1234567890abcdefghijklmnopqr"
	sentinelPassword = "SENTINEL-registry-password-0123456789"
	sentinelArgo     = "SENTINEL-argocd-token-0123456789abcdef"
)

// load resolves settings from env as the magefile would, with a temporary
// repository root and state directory. Settings that config refuses (a
// token that cannot be real) are still returned, as the magefile hands them
// to doctor with the error.
func load(t *testing.T, env map[string]string) config.Settings {
	t.Helper()
	s, _ := loadErr(t, env)
	return s
}

func loadErr(t *testing.T, env map[string]string) (config.Settings, error) {
	t.Helper()
	root := t.TempDir()
	// A repository of one service, as this one is.
	if err := fixture.Workspace(root, "", fixture.Reference); err != nil {
		t.Fatal(err)
	}
	if _, ok := env["PIPELINE_STATE_DIR"]; !ok {
		env["PIPELINE_STATE_DIR"] = t.TempDir()
	}
	return config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
}

// run runs the named checks with no Docker config and no home directory
// unless opts sets them.
func run(t *testing.T, opts doctor.Options, only ...string) doctor.Report {
	t.Helper()
	opts.Only = only
	if opts.Keychain == nil {
		opts.Keychain = authn.NewMultiKeychain() // anonymous: never the developer's Docker login
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Second
	}
	return doctor.Run(context.Background(), opts)
}

// row returns the report's row for check.
func row(t *testing.T, r doctor.Report, check string) doctor.Row {
	t.Helper()
	for _, row := range r.Rows {
		if row.Check == check {
			return row
		}
	}
	t.Fatalf("report has no %q row:\n%s", check, r.Text())
	return doctor.Row{}
}

// want checks a row's status and that its found and fix texts contain
// every expected fragment.
func want(t *testing.T, r doctor.Report, check string, status doctor.Status, found, fix []string) {
	t.Helper()
	got := row(t, r, check)
	if got.Status != status {
		t.Errorf("%s: status %s, want %s\n%s", check, got.Status, status, r.Text())
	}
	for _, f := range found {
		if !strings.Contains(got.Found, f) {
			t.Errorf("%s: found = %q, want it to contain %q", check, got.Found, f)
		}
	}
	for _, f := range fix {
		if !strings.Contains(got.Fix, f) {
			t.Errorf("%s: fix = %q, want it to contain %q", check, got.Fix, f)
		}
	}
}

// closedURL returns an http URL on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	return "http://" + closedAddr(t)
}

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// httpClient is a plain client for loopback test servers.
var httpClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// assertNoSecrets fails if text holds a secret or its base64 form.
func assertNoSecrets(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < 8 {
			continue
		}
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(text, form) {
				t.Errorf("report contains secret %.4s… (as %.8s…):\n%s", s, form, text)
			}
		}
	}
}
