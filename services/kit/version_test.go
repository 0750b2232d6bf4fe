package kit

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		name    string
		version string
		commit  string
	}{
		{name: "release", version: "1a2b3c4", commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"},
		{name: "dirty", version: "1a2b3c4-dirty", commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"},
		{name: "defaults", version: "dev", commit: "unknown"},
		// Guards the encoding: ldflags accept any string.
		{name: "needs escaping", version: `v"1"\`, commit: "<sha>&"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.Version, opts.Commit = tt.version, tt.commit
			got := do(t, newServer(opts).Handler(), http.MethodGet, "/version")
			if got.code != http.StatusOK || got.contentType != "application/json" {
				t.Fatalf("GET /version = %d %q, want 200 application/json", got.code, got.contentType)
			}
			var body map[string]string
			if err := json.Unmarshal([]byte(got.body), &body); err != nil {
				t.Fatalf("GET /version body %q: %v", got.body, err)
			}
			want := map[string]string{"version": tt.version, "commit": tt.commit, "started": "2026-05-08T22:00:00Z"}
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("GET /version body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
