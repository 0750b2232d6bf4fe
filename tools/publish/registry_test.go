package publish

import (
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// recorder is the innermost transport: it records the URL it was asked for.
type recorder struct{ got string }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req.URL.String()
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// TestLoopbackOnlyHTTP guards credentials: go-containerregistry would send
// them in clear text to private-network registries.
func TestLoopbackOnlyHTTP(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string
	}{
		{name: "loopback v4", url: "http://127.0.0.1:5055/v2/", want: "http://127.0.0.1:5055/v2/"},
		{name: "loopback v6", url: "http://[::1]:5055/v2/", want: "http://[::1]:5055/v2/"},
		{name: "localhost", url: "http://localhost:5000/v2/", want: "http://localhost:5000/v2/"},
		{name: "private address", url: "http://10.0.0.200:5000/v2/", want: "https://10.0.0.200:5000/v2/"},
		{name: "mDNS name", url: "http://registry.local/v2/", want: "https://registry.local/v2/"},
		{name: "https untouched", url: "https://ghcr.io/v2/", want: "https://ghcr.io/v2/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Transport(rec).RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if rec.got != tt.want {
				t.Errorf("RoundTrip(%q) sent %q, want %q", tt.url, rec.got, tt.want)
			}
		})
	}
}

// TestKeychainScope guards against the push credentials leaking to the
// base image's registry, or to any registry an image reference names.
func TestKeychainScope(t *testing.T) {
	basic := authn.AuthConfig{Username: "ci", Password: "pw"}
	tests := []struct {
		name     string
		username string
		repo     string
		want     authn.AuthConfig
	}{
		{name: "configured registry", username: "ci", repo: "ghcr.io/andrelair-platform/platform-demo", want: basic},
		{name: "other registry", username: "ci", repo: "gcr.io/distroless/static"},
		{name: "same host, other port", username: "ci", repo: "ghcr.io:8443/andrelair-platform/platform-demo"},
		{name: "no username", repo: "ghcr.io/andrelair-platform/platform-demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := Keychain("ghcr.io", tt.username, "pw", nil)
			repo, err := name.NewRepository(tt.repo)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := kc.Resolve(repo)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.repo, err)
			}
			got, err := auth.Authorization()
			if err != nil {
				t.Fatalf("Resolve(%q).Authorization(): %v", tt.repo, err)
			}
			if *got != tt.want {
				t.Errorf("Resolve(%q) = user %q, want user %q", tt.repo, got.Username, tt.want.Username)
			}
		})
	}
}
