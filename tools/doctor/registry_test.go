package doctor_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/andrelair-platform/platform-demo/tools/doctor"
	localregistry "github.com/andrelair-platform/platform-demo/tools/local/registry"
)

// authRegistry is an OCI registry that wants basic auth as user:password
// and, with readOnly, refuses every upload with 403 DENIED, as a registry
// does for an account that may pull but not push.
func authRegistry(user, password string, readOnly bool) http.Handler {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		if readOnly && req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
			return
		}
		reg.ServeHTTP(w, req)
	})
}

func TestRegistry(t *testing.T) {
	open := httptest.NewServer(authRegistry("ci", sentinelPassword, false))
	defer open.Close()
	readOnly := httptest.NewServer(authRegistry("ci", sentinelPassword, true))
	defer readOnly.Close()
	host := func(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

	tests := []struct {
		name   string
		env    map[string]string
		status doctor.Status
		found  []string
		fix    []string
	}{
		{
			name:   "push allowed",
			env:    map[string]string{"KO_DOCKER_REPO": host(open), "REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": sentinelPassword},
			status: doctor.OK,
			found:  []string{"push allowed to " + host(open), "as ci, password SENT… (37 characters)"},
		},
		{
			name:   "wrong password",
			env:    map[string]string{"KO_DOCKER_REPO": host(open), "REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": "SENTINEL-wrong-password-0123456789"},
			status: doctor.Fail,
			found:  []string{"cannot push to", "401 Unauthorized (UNAUTHORIZED: authentication required)"},
			fix:    []string{"check REGISTRY_USERNAME and REGISTRY_PASSWORD"},
		},
		{
			name:   "no credentials",
			env:    map[string]string{"KO_DOCKER_REPO": host(open)},
			status: doctor.Fail,
			found:  []string{"without credentials: 401"},
			fix:    []string{"docker login"},
		},
		{
			name:   "push denied",
			env:    map[string]string{"KO_DOCKER_REPO": host(readOnly), "REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": sentinelPassword},
			status: doctor.Fail,
			found:  []string{"403 Forbidden (DENIED: requested access to the resource is denied)"},
			fix:    []string{"may not write", "push rights"},
		},
		{
			name:   "unreachable",
			env:    map[string]string{"KO_DOCKER_REPO": closedAddr(t), "REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": sentinelPassword},
			status: doctor.Fail,
			found:  []string{"connection refused"},
			fix:    []string{"check KO_DOCKER_REPO's host"},
		},
		{
			name:   "invalid repository",
			env:    map[string]string{"KO_DOCKER_REPO": "ghcr.io/Andrelair-Platform"},
			status: doctor.Fail,
			found:  []string{"is not a repository"},
			fix:    []string{"lowercase"},
		},
		{
			name:   "username without password",
			env:    map[string]string{"KO_DOCKER_REPO": host(open), "REGISTRY_USERNAME": "ci"},
			status: doctor.Fail,
			found:  []string{"REGISTRY_PASSWORD is empty"},
		},
		{
			name:   "password without username",
			env:    map[string]string{"KO_DOCKER_REPO": host(open), "REGISTRY_PASSWORD": sentinelPassword},
			status: doctor.Fail,
			found:  []string{"REGISTRY_USERNAME is empty"},
			fix:    []string{"github.actor"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, doctor.Options{Settings: load(t, tt.env), HTTPClient: httpClient}, doctor.CheckRegistry)
			want(t, r, doctor.CheckRegistry, tt.status, tt.found, tt.fix)
			assertNoSecrets(t, r.Text(), tt.env["REGISTRY_PASSWORD"])
		})
	}
}

// A push to ghcr.io refused for lack of packages: write names that
// permission. ghcr.io is served here by a loopback TLS server: the client
// dials it for every address, as a DNS entry would make it.
func TestRegistryGHCRHint(t *testing.T) {
	srv := httptest.NewTLSServer(authRegistry("ci", sentinelPassword, true))
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "example.com"} // a name in httptest's certificate
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	env := map[string]string{"KO_DOCKER_REPO": "ghcr.io/andrelair-platform", "REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": sentinelPassword}
	r := run(t, doctor.Options{Settings: load(t, env), HTTPClient: &http.Client{Transport: tr}}, doctor.CheckRegistry)
	want(t, r, doctor.CheckRegistry, doctor.Fail,
		[]string{"cannot push to ghcr.io/andrelair-platform/platform-demo", "403"},
		[]string{"permissions: packages: write", "Manage Actions access", "write:packages"})
	assertNoSecrets(t, r.Text(), sentinelPassword)
}

func TestLocalRegistry(t *testing.T) {
	embedded, err := localregistry.Start(context.Background(), localregistry.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer embedded.Close()
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()

	tests := []struct {
		name   string
		addr   string
		status doctor.Status
		found  string
		fix    string
	}{
		{name: "free", addr: closedAddr(t), status: doctor.OK, found: "is free; publish serves the embedded registry there"},
		{name: "embedded registry", addr: embedded.Addr(), status: doctor.OK, found: "served by the embedded registry of another process"},
		{name: "another program", addr: strings.TrimPrefix(other.URL, "http://"), status: doctor.Fail, found: "in use by another program", fix: "LOCAL_REGISTRY_ADDR"},
		{name: "not loopback", addr: "0.0.0.0:5055", status: doctor.Fail, found: "not a loopback host:port", fix: "LOCAL_REGISTRY_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, doctor.Options{Settings: load(t, map[string]string{"LOCAL_REGISTRY_ADDR": tt.addr}), HTTPClient: httpClient}, doctor.CheckRegistry)
			var fix []string
			if tt.fix != "" {
				fix = []string{tt.fix}
			}
			want(t, r, doctor.CheckRegistry, tt.status, []string{"local mode: ", tt.found}, fix)
		})
	}
}
