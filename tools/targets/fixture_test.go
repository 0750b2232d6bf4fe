package targets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
	"github.com/andrelair-platform/platform-demo/tools/publish"
	"github.com/andrelair-platform/platform-demo/tools/targets"
)

// The manifests of the two environments of the gitops template.
const (
	stagingPath    = "manifests/platform-demo/00-deployment.yaml"
	productionPath = "manifests/platform-demo-production/00-deployment.yaml"
)

// world is the production path on this machine, as promote, rollback and
// status meet it: a source repository with two commits and this
// repository's gitops/ template, a gitops repository reached with git
// (GITOPS_REPO a path), a registry holding one image of each commit, and a
// service whose /version answers what live says. Staging's manifest
// deploys the first commit. Beside them, outside, is a directory with a
// file that nothing may touch.
type world struct {
	t *testing.T
	// root is the source repository; bare the gitops repository.
	root, bare string
	// commits are the source commits, oldest first; images their images,
	// pinned by digest, in the registry at host.
	commits, images []string
	host            string
	// live is the commit the service answers; service its address.
	live    atomic.Value
	service string
	// env holds the settings the targets run with.
	env map[string]string
	// outside is a directory no target may write to, holding sentinel.
	outside, sentinel string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, env: map[string]string{}}
	src := filepath.Join(inputstest.Need(t, inputs.Gitops), "gitops")
	w.root = filepath.Join(t.TempDir(), "platform-demo")
	if err := fixture.Workspace(w.root, src, fixture.Reference); err != nil {
		t.Fatal(err)
	}
	w.git("init", "-q", "-b", "main")
	for _, msg := range []string{"first", "second"} {
		if err := os.WriteFile(filepath.Join(w.root, "CHANGE"), []byte(msg+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		w.git("add", "-A")
		w.git("commit", "-q", "-m", msg)
		w.commits = append(w.commits, w.git("rev-parse", "HEAD"))
	}

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	w.host = strings.TrimPrefix(reg.URL, "http://")
	for _, c := range w.commits {
		w.images = append(w.images, w.push(c[:7], c))
	}

	w.bare = filepath.Join(t.TempDir(), "gitops.git")
	if _, err := gitops.Init(ctx, gitops.Options{Dir: w.bare, Seed: filepath.Join(w.root, "gitops"), Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	w.deploy(stagingPath, w.images[0], w.commits[0])

	w.live.Store(w.commits[0])
	svc := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(rw).Encode(map[string]string{"version": "test", "commit": w.live.Load().(string)})
	}))
	t.Cleanup(svc.Close)
	w.service = svc.URL

	w.outside = t.TempDir()
	w.sentinel = filepath.Join(w.outside, "sentinel.yaml")
	if err := os.WriteFile(w.sentinel, []byte("image: untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.untouched)

	maps.Copy(w.env, map[string]string{
		"PIPELINE_STATE_DIR": filepath.Join(w.root, ".state"),
		"GITOPS_REPO":        w.bare,
		"KO_DOCKER_REPO":     w.host,
		"VERIFY_URL":         w.service, "VERIFY_URL_PRODUCTION": w.service,
		"VERIFY_CONSECUTIVE": "1", "VERIFY_INTERVAL": "20ms", "VERIFY_TIMEOUT": "10s",
		// These tests are about what the targets read and write, not the
		// soak (tools/pipeline's soak_test.go): a promotion needs no verdict.
		"VERIFY_SOAK": "0",
	})
	return w
}

// git runs git in the source repository.
func (w *world) git(args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = w.root
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_CONFIG_GLOBAL="+os.DevNull)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitops runs git in the gitops repository.
func (w *world) gitops(args ...string) string {
	w.t.Helper()
	return w.git(append([]string{"--git-dir", w.bare}, args...)...)
}

// push puts a small image, built from commit as its annotation says, in
// the registry under tag and returns it pinned by digest.
func (w *world) push(tag, commit string) string {
	w.t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{publish.AnnotationRevision: commit}).(v1.Image)
	ref, err := name.ParseReference(w.host + "/platform-demo:" + tag)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		w.t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		w.t.Fatal(err)
	}
	return ref.String() + "@" + d.String()
}

// deploy points the manifest at path to image, built from commit, as a
// bump by the pipeline does.
func (w *world) deploy(path, image, commit string) {
	w.t.Helper()
	_, err := bump.Image(context.Background(), bump.Options{Repo: w.bare, Path: path, Image: image, SourceCommit: commit, Force: true})
	if err != nil {
		w.t.Fatal(err)
	}
}

// commitFile commits content as path in the gitops repository, as a person
// editing it by hand would.
func (w *world) commitFile(path, content, message string) {
	w.t.Helper()
	work := filepath.Join(w.t.TempDir(), "work")
	w.git("clone", "-q", w.bare, work)
	file := filepath.Join(work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.git("-C", work, "add", "-A")
	w.git("-C", work, "commit", "-q", "-m", message)
	w.git("-C", work, "push", "-q", "origin", "HEAD:main")
}

// manifest is the file at path on the gitops repository's main branch.
func (w *world) manifest(path string) string {
	w.t.Helper()
	b, _, err := gitops.Read(context.Background(), w.bare, "main", path)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// untouched fails the test if anything outside the world's repositories
// changed: the sentinel's content, or a file added beside it.
func (w *world) untouched() {
	w.t.Helper()
	if b, err := os.ReadFile(w.sentinel); err != nil || string(b) != "image: untouched\n" {
		w.t.Errorf("the file outside the repositories changed: %q, %v", b, err)
	}
	var files []string
	filepath.WalkDir(w.outside, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != w.outside {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 1 {
		w.t.Errorf("the directory outside the repositories holds %v, want only %s", files, w.sentinel)
	}
}

// run runs a target with the world's settings, changed by set (a value ""
// unsets), and returns what it printed.
func (w *world) run(ctx context.Context, set map[string]string, target func(context.Context, targets.Env) error) (stdout, stderr string, err error) {
	w.t.Helper()
	env := maps.Clone(w.env)
	for k, v := range set {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	var out, errOut bytes.Buffer
	err = target(ctx, targets.Env{
		Root: w.root, Home: w.t.TempDir(), Environ: environ,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Stdout: &out, Stderr: &errOut,
	})
	return out.String(), errOut.String(), err
}

// stateFiles returns the content of every file the targets wrote in the
// state directory.
func (w *world) stateFiles() string {
	w.t.Helper()
	var b strings.Builder
	filepath.WalkDir(filepath.Join(w.root, ".state"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(path)
			b.Write(data)
		}
		return nil
	})
	return b.String()
}
