package bump

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// deployment is the gitops manifest as the bootstrap left it: a placeholder
// image and no source commit yet.
const deployment = `# platform-demo, promoted by the CI pipeline.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: platform-demo
  namespace: gitops-demo
spec:
  replicas: 2
  selector:
    matchLabels: {app: platform-demo}
  template:
    metadata:
      labels: {app: platform-demo}
    spec:
      imagePullSecrets:
        - name: ghcr-pull   # created out of band
      containers:
        - name: platform-demo
          image: ghcr.io/stefanprodan/podinfo:6.11.2   # bootstrap image
          ports:
            - containerPort: 8080
`

const (
	gitopsRepo = "acme/gitops"
	sourceRepo = "acme/platform-demo"
	goodToken  = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
)

// chain returns n fake commit shas; commit i is the parent of commit i+1.
func chain(n int) []string {
	shas := make([]string, n)
	for i := range shas {
		sum := sha1.Sum([]byte(fmt.Sprintf("source commit %d", i)))
		shas[i] = hex.EncodeToString(sum[:])
	}
	return shas
}

// imageFor is the image a pipeline builds from commit sha.
func imageFor(sha string) string {
	return "ghcr.io/andrelair-platform/platform-demo:" + sha[:7] + "@sha256:" + strings.Repeat(sha[:8], 8)
}

// readBack parses a manifest and returns what it deploys, failing the test
// when it is not valid YAML with the container.
func readBack(t testing.TB, content []byte) manifest.Current {
	t.Helper()
	cur, err := manifest.Read(content, DefaultContainer)
	if err != nil {
		t.Fatalf("manifest after bump does not read back: %v\n%s", err, content)
	}
	return cur
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name, image string
		skipCI      bool
		want        string
	}{
		{"tag", "ghcr.io/o/app:abc1234", false, "ci(platform-demo): bump image to abc1234"},
		{"tag and digest", "ghcr.io/o/app:abc1234@sha256:00", false, "ci(platform-demo): bump image to abc1234"},
		{"registry port", "127.0.0.1:5055/platform-demo:abc1234", true, "ci(platform-demo): bump image to abc1234 [skip ci]"},
		{"digest only", "127.0.0.1:5055/platform-demo@sha256:00", false, "ci(platform-demo): bump image to sha256:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Message(DefaultContainer, tt.image, tt.skipCI); got != tt.want {
				t.Errorf("Message(%q, %v) = %q, want %q", tt.image, tt.skipCI, got, tt.want)
			}
		})
	}
}

func TestIsGitHubRepo(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		repo string
		want bool
	}{
		{"andrelair-platform/minicloud-gitops", true},
		{"https://github.com/andrelair-platform/minicloud-gitops.git", false},
		{"git@github.com:andrelair-platform/minicloud-gitops.git", false},
		{"file:///srv/gitops.git", false},
		{".state/gitops.git", false},
		{dir, false},
	}
	for _, tt := range tests {
		if got := IsGitHubRepo(tt.repo); got != tt.want {
			t.Errorf("IsGitHubRepo(%q) = %v, want %v", tt.repo, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantMsg string
	}{
		{"no repo", Options{Image: "a/b:1"}, "GITOPS_REPO"},
		{"no tag", Options{Repo: gitopsRepo, Image: "ghcr.io/o/app"}, "tag or digest"},
		{"short sha", Options{Repo: gitopsRepo, Image: "a/b:1", SourceCommit: "abc1234"}, "full commit sha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Image(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Image(%+v) error = %v, want it to mention %q", tt.opts, err, tt.wantMsg)
			}
		})
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	b := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n12\n13\n"
	want := `--- a/f
+++ b/f
@@ -2,7 +2,7 @@
 2
 3
 4
-5
+five
 6
 7
 8
@@ -10,3 +10,4 @@
 10
 11
 12
+13
`
	if got := unifiedDiff("a/f", "b/f", []byte(a), []byte(b)); got != want {
		t.Errorf("unifiedDiff = %q, want %q", got, want)
	}
	if got := unifiedDiff("a/f", "b/f", []byte(a), []byte(a)); got != "" {
		t.Errorf("unifiedDiff of equal inputs = %q, want empty", got)
	}
}

func TestRedact(t *testing.T) {
	const token = "ghp_secretsecretsecret"
	in := "fatal: https://x:" + token + "@github.com/o/r: header Authorization: Basic " + secretForms(token)[0] + " token " + token
	got := redact(in, token)
	if strings.Contains(got, token) || strings.Contains(got, secretForms(token)[0]) {
		t.Errorf("redact(%q) = %q, still holds the secret", in, got)
	}
}
