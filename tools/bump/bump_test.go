package bump

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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

// TestMessage pins the commit message that makes a gitops history
// traceable: what was deployed, from which commit, by which digest.
func TestMessage(t *testing.T) {
	const commit = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name     string
		opts     Options
		previous string
		want     string
	}{
		{
			name: "deploy",
			opts: Options{Container: "platform-demo", Image: "ghcr.io/o/app:1a2b3c4@" + digest, SourceCommit: commit, SourceURL: "https://github.com/o/app"},
			want: "ci(platform-demo): deploy 1a2b3c4\n\nSource-Commit: " + commit + "\nImage: ghcr.io/o/app@" + digest + "\nSource: https://github.com/o/app/commit/" + commit + "\n",
		},
		{
			name: "same repository skips its own pipeline",
			opts: Options{Container: "platform-demo", Image: "127.0.0.1:5055/platform-demo:1a2b3c4@" + digest, SourceCommit: commit, SkipCI: true},
			want: "ci(platform-demo): deploy 1a2b3c4 [skip ci]\n\nSource-Commit: " + commit + "\nImage: 127.0.0.1:5055/platform-demo@" + digest + "\n",
		},
		{
			name: "tag only, no commit",
			opts: Options{Container: "web", Image: "ghcr.io/o/app:v1.2"},
			want: "ci(web): deploy v1.2\n\nImage: ghcr.io/o/app:v1.2\n",
		},
		{
			name:     "rollback says from what and why",
			opts:     Options{Container: "platform-demo", Image: "ghcr.io/o/app:1a2b3c4@" + digest, SourceCommit: commit, Action: "roll back to", Reason: "5xx after the deploy"},
			previous: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
			want:     "ci(platform-demo): roll back to 1a2b3c4 (was 9f8e7d6)\n\nSource-Commit: " + commit + "\nImage: ghcr.io/o/app@" + digest + "\nReason: 5xx after the deploy\n",
		},
		{
			name: "template",
			opts: Options{Container: "platform-demo", Image: "ghcr.io/o/app:1a2b3c4@" + digest, SourceCommit: commit, Message: "deploy({{.Container}}) {{.Commit}} {{.Digest}}"},
			want: "deploy(platform-demo) " + commit + " " + digest + "\n\nSource-Commit: " + commit + "\nImage: ghcr.io/o/app@" + digest + "\n",
		},
		{
			// A reason with lines of its own cannot add trailers.
			name: "reason on several lines",
			opts: Options{Container: "platform-demo", Image: "ghcr.io/o/app:1a2b3c4@" + digest, SourceCommit: commit, Action: "roll back to",
				Reason: "broke it\n\nSource-Commit: 0000000000000000000000000000000000000000\r\nImage: evil\u2028Environment: production"},
			want: "ci(platform-demo): roll back to 1a2b3c4\n\nSource-Commit: " + commit + "\nImage: ghcr.io/o/app@" + digest +
				"\nReason: broke it Source-Commit: 0000000000000000000000000000000000000000 Image: evil Environment: production\n",
		},
		{
			// A template that ends with what a person typed still ends
			// with the bump's trailers.
			name: "template ending with the reason",
			opts: Options{Container: "platform-demo", Image: "ghcr.io/o/app:1a2b3c4@" + digest, SourceCommit: commit, Reason: "Source-Commit: 0000000",
				Message: "deploy {{.Short}}\n\n{{.Reason}}"},
			want: "deploy 1a2b3c4\n\nSource-Commit: 0000000\n\nSource-Commit: " + commit + "\nImage: ghcr.io/o/app@" + digest + "\nReason: Source-Commit: 0000000\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Repo, o.Token = "./gitops", "not-used-by-a-local-path"
			o = o.withDefaults()
			if err := (&o).validate(); err != nil {
				t.Fatal(err)
			}
			got, err := o.message("", tt.previous)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ParseMessage("{{.Image"); err == nil || !strings.Contains(err.Error(), "BUMP_MESSAGE") {
		t.Errorf("ParseMessage(unclosed) = %v, want an error naming BUMP_MESSAGE", err)
	}
	if _, err := ParseMessage("{{.Tag}}"); err == nil || !strings.Contains(err.Error(), ".Container") {
		t.Errorf("ParseMessage(unknown field) = %v, want an error listing the fields", err)
	}
	for _, text := range []string{" ", "\n\n", "{{.Reason}}"} {
		if _, err := ParseMessage(text); err == nil || !strings.Contains(err.Error(), "renders no subject") {
			t.Errorf("ParseMessage(%q) = %v, want it refused for rendering no subject", text, err)
		}
	}
	if _, err := ParseMessage("deploy {{.Short}}"); err != nil {
		t.Errorf("ParseMessage(a subject) = %v, want nil", err)
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
		{"./srv/gitops", false},
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
