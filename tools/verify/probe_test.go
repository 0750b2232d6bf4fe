package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProbe(t *testing.T) {
	tests := []struct {
		name    string
		step    string
		want    Version
		wantErr string
	}{
		{name: "version answer", step: newCommit, want: Version{Version: newCommit[:7], Commit: newCommit}},
		{name: "server error", step: status500, wantErr: "500 Internal Server Error: \"upstream connect error\""},
		{name: "login page", step: htmlPage, wantErr: "not JSON (Content-Type \"text/html\""},
		{name: "JSON without commit", step: noCommit, wantErr: "no \"commit\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, "", tt.step)
			got, err := Probe(t.Context(), svc.Client(), svc.URL)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Probe(%q) error = %v, want one containing %q", svc.URL, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Probe(%q) error: %v", svc.URL, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Probe(%q) mismatch (-want +got):\n%s", svc.URL, diff)
			}
		})
	}
}

func TestProbeUnreachable(t *testing.T) {
	url := closedPort(t)
	_, err := Probe(t.Context(), nil, url)
	if err == nil || !strings.Contains(err.Error(), "get "+url+"/version") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Probe(%q) error = %v, want one naming %s/version and the refused connection", url, err, url)
	}
}

func TestProbeBadURL(t *testing.T) {
	if _, err := Probe(t.Context(), nil, ""); !errors.Is(err, ErrNoURL) {
		t.Errorf("Probe(\"\") error = %v, want ErrNoURL", err)
	}
	if _, err := Probe(t.Context(), nil, "ftp://example"); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Errorf("Probe(\"ftp://example\") error = %v, want one saying it is not an http(s) URL", err)
	}
}

func TestVersionURL(t *testing.T) {
	tests := []struct{ base, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/version"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/version"},
		{"https://platform-demo.example/demo//", "https://platform-demo.example/demo/version"},
		{" http://127.0.0.1:8080 ", "http://127.0.0.1:8080/version"},
	}
	for _, tt := range tests {
		got, err := versionURL(tt.base)
		if err != nil || got != tt.want {
			t.Errorf("versionURL(%q) = %q, %v, want %q", tt.base, got, err, tt.want)
		}
	}
}

// TestProbeRedactsPassword guards against a VERIFY_URL with basic-auth
// credentials (an ingress behind a password) printing the password.
func TestProbeRedactsPassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:S3CRETPASS@", 1)
	_, err := Probe(context.Background(), nil, u)
	if err == nil || strings.Contains(err.Error(), "S3CRETPASS") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Probe() error = %v, want a 500 error without the password", err)
	}
}
