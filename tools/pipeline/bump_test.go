package pipeline

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/andrelair-platform/platform-demo/tools/config"
)

// TestCheckImage guards `mage bump` by hand against deploying a reference
// that nothing can pull.
func TestCheckImage(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := name.ParseReference(host + "/platform-demo:abc1234")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(pushed, img); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KO_DOCKER_REPO": host, "PIPELINE_STATE_DIR": t.TempDir()}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := New(s, nil)
	defer p.Close(context.Background())

	tests := []struct {
		name    string
		image   string
		wantErr string
	}{
		{name: "pushed, pinned", image: pushed.String() + "@" + digest.String()},
		{name: "pushed tag", image: pushed.String()},
		{name: "missing tag", image: host + "/platform-demo:0000000", wantErr: "is not in its registry: publish it first"},
		{name: "not a reference", image: "Not A Ref", wantErr: "want repo:tag@sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckImage(context.Background(), tt.image)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckImage(%q) = %v, want nil", tt.image, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckImage(%q) = %v, want an error containing %q", tt.image, err, tt.wantErr)
			}
		})
	}
}

// authRecorder is an in-memory registry that records the Authorization
// header of every request.
type authRecorder struct {
	mu   sync.Mutex
	seen []string
	next http.Handler
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Get("Authorization"))
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

func (a *authRecorder) sawBasic(basic string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.seen {
		if h == basic {
			return true
		}
	}
	return false
}

// TestCheckImageCredentials guards REGISTRY_USERNAME and REGISTRY_PASSWORD:
// they go to the registry images are pushed to, never to another registry a
// reference typed by hand names.
func TestCheckImageCredentials(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no Docker login for the other registry
	const user, password = "ci", "SENTINEL-check-image-password"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	start := func() (*authRecorder, string) {
		rec := &authRecorder{next: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
		srv := httptest.NewServer(rec)
		t.Cleanup(srv.Close)
		ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/platform-demo:abc1234")
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		return rec, ref.String()
	}
	pushRec, pushRef := start()
	otherRec, otherRef := start()

	env := map[string]string{
		"KO_DOCKER_REPO":    strings.TrimSuffix(pushRef, ":abc1234"),
		"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": password,
		"PIPELINE_STATE_DIR": t.TempDir(),
	}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := New(s, nil)
	defer p.Close(context.Background())

	if err := p.CheckImage(context.Background(), otherRef); err != nil {
		t.Fatalf("CheckImage(%q) = %v, want nil", otherRef, err)
	}
	if otherRec.sawBasic(basic) {
		t.Errorf("CheckImage(%q) sent REGISTRY_USERNAME/REGISTRY_PASSWORD to a registry other than KO_DOCKER_REPO's", otherRef)
	}
	if err := p.CheckImage(context.Background(), pushRef); err != nil {
		t.Fatalf("CheckImage(%q) = %v, want nil", pushRef, err)
	}
	if !pushRec.sawBasic(basic) {
		t.Errorf("CheckImage(%q) did not authenticate to KO_DOCKER_REPO's registry with REGISTRY_USERNAME/REGISTRY_PASSWORD", pushRef)
	}
}
