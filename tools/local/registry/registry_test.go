package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatalf("ParseReference(%q): %v", s, err)
	}
	return r
}

func start(t *testing.T, dir, addr string) *Registry {
	t.Helper()
	r, err := Start(context.Background(), Options{Dir: dir, Addr: addr})
	if err != nil {
		t.Fatalf("Start(%q, %q): %v", dir, addr, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestPersistence guards against manifests and tags living only in the
// memory of the process that received the push: a later command must pull
// what an earlier one pushed.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	first := start(t, dir, "127.0.0.1:0")

	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	imgTag := ref(t, first.Addr()+"/demo/app:v1")
	idxTag := ref(t, first.Addr()+"/demo/app:multi")
	if err := remote.Write(imgTag, img); err != nil {
		t.Fatalf("push image: %v", err)
	}
	if err := remote.WriteIndex(idxTag, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	second := start(t, dir, "127.0.0.1:0")
	wantImg, _ := img.Digest()
	wantIdx, _ := idx.Digest()

	gotImg, err := remote.Image(ref(t, second.Addr()+"/demo/app:v1"))
	if err != nil {
		t.Fatalf("pull image after restart: %v", err)
	}
	if d, _ := gotImg.Digest(); d != wantImg {
		t.Errorf("image digest after restart = %s, want %s", d, wantImg)
	}
	if err := validate.Image(gotImg); err != nil {
		t.Errorf("image after restart is incomplete: %v", err)
	}
	gotIdx, err := remote.Index(ref(t, second.Addr()+"/demo/app@"+wantIdx.String()))
	if err != nil {
		t.Fatalf("pull index by digest after restart: %v", err)
	}
	if err := validate.Index(gotIdx); err != nil {
		t.Errorf("index after restart is incomplete: %v", err)
	}
	tags, err := remote.List(ref(t, second.Addr()+"/demo/app:v1").Context())
	if err != nil {
		t.Fatalf("list tags: %v", err)
	}
	if got := strings.Join(tags, ","); !strings.Contains(got, "v1") || !strings.Contains(got, "multi") {
		t.Errorf("tags after restart = %q, want v1 and multi", got)
	}
}

// TestDeletePersists guards against a deleted tag coming back on restart.
func TestDeletePersists(t *testing.T) {
	dir := t.TempDir()
	first := start(t, dir, "127.0.0.1:0")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, first.Addr()+"/demo/app:gone"), img); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref(t, first.Addr()+"/demo/app:gone")); err != nil {
		t.Fatalf("delete tag: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	second := start(t, dir, "127.0.0.1:0")
	if _, err := remote.Head(ref(t, second.Addr()+"/demo/app:gone")); err == nil {
		t.Error("deleted tag is back after restart")
	}
}

// TestAttach guards against a second command failing, or stealing the
// storage, when the registry already runs in another process.
func TestAttach(t *testing.T) {
	owner := start(t, t.TempDir(), "127.0.0.1:0")

	other, err := Start(context.Background(), Options{Dir: t.TempDir(), Addr: owner.Addr()})
	if err != nil {
		t.Fatalf("Start on a served address: %v", err)
	}
	if !other.attached {
		t.Fatal("attached = false on an address served by another registry, want true")
	}
	if other.Addr() != owner.Addr() {
		t.Errorf("Addr() = %q, want %q", other.Addr(), owner.Addr())
	}
	if err := other.Close(); err != nil {
		t.Errorf("Close of an attached registry: %v", err)
	}

	// The owner must still serve after the attached value is closed.
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, other.Addr()+"/demo/app:attached"), img); err != nil {
		t.Errorf("push through the attached address after its Close: %v", err)
	}
}

// TestAddressHeldByAnotherProgram guards against attaching to, or silently
// failing on, a port that some other server holds.
func TestAddressHeldByAnotherProgram(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	_, err := Start(context.Background(), Options{Dir: t.TempDir(), Addr: addr})
	if err == nil {
		t.Fatalf("Start(%q) on a port held by a plain HTTP server succeeded, want an error", addr)
	}
	for _, want := range []string{addr, "LOCAL_REGISTRY_ADDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start(%q) error = %q, want it to contain %q", addr, err, want)
		}
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "all interfaces", opts: Options{Dir: t.TempDir(), Addr: "0.0.0.0:0"}, want: "not a loopback"},
		{name: "private address", opts: Options{Dir: t.TempDir(), Addr: "10.0.0.1:5055"}, want: "not a loopback"},
		{name: "no port", opts: Options{Dir: t.TempDir(), Addr: "127.0.0.1"}, want: "LOCAL_REGISTRY_ADDR"},
		{name: "no directory", opts: Options{Addr: "127.0.0.1:0"}, want: "storage directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Start(context.Background(), tt.opts)
			if err == nil {
				r.Close()
				t.Fatalf("Start(%+v) succeeded, want an error containing %q", tt.opts, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start(%+v) error = %q, want it to contain %q", tt.opts, err, tt.want)
			}
		})
	}
}

// TestJournalDamage guards against a crash mid-write making the registry
// unusable (a torn last line) while still refusing a journal damaged in the
// middle, which would silently lose tags.
func TestJournalDamage(t *testing.T) {
	good := `{"op":"put","repo":"demo/app","reference":"v1","contentType":"application/vnd.oci.image.manifest.v1+json","manifest":"e30="}` + "\n"
	tests := []struct {
		name    string
		journal string
		wantErr bool
	}{
		{name: "torn last line", journal: good + `{"op":"pu`},
		{name: "damaged middle line", journal: good + "garbage\n" + good, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, journalName), []byte(tt.journal), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Start(context.Background(), Options{Dir: dir, Addr: "127.0.0.1:0"})
			if err == nil {
				r.Close()
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("Start with a journal with a %s: error = %v, want error %t", tt.name, err, tt.wantErr)
			}
		})
	}
}

// TestMarkerHeader guards the attach handshake: another process recognises
// the registry by this header on GET /v2/.
func TestMarkerHeader(t *testing.T) {
	r := start(t, t.TempDir(), "127.0.0.1:0")
	resp, err := http.Get("http://" + r.Addr() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(MarkerHeader) != "1" {
		t.Errorf("GET /v2/ = %d with %s %q, want 200 with %q", resp.StatusCode, MarkerHeader, resp.Header.Get(MarkerHeader), "1")
	}
}
