package pipeline

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
	env := map[string]string{"KO_DOCKER_REPO": host + "/platform-demo", "PIPELINE_STATE_DIR": t.TempDir()}
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
