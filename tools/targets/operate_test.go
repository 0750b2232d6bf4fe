package targets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/magetest"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
	localregistry "github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// TestOperateTargets runs status, promote and rollback as a user types
// them, on a fresh state directory where nothing is deployed or served:
// the flags reach the targets, bad input fails with its cause, and status
// fails while the environments are unreachable, in JSON when asked.
func TestOperateTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the mage targets as processes")
	}
	root := inputstest.Need(t, inputs.Targets, inputs.Gitops)
	targets := magetest.Compile(t, root)
	addr := func() string {
		p, err := loopback.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("127.0.0.1:%d", p)
	}
	state, regAddr := t.TempDir(), addr()
	base := []string{"PIPELINE_STATE_DIR=" + state, "LOCAL_ADDR=" + addr(), "LOCAL_ADDR_PRODUCTION=" + addr(), "LOCAL_REGISTRY_ADDR=" + regAddr}
	mage := func(env []string, args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(targets, args...)
		cmd.Dir = root
		cmd.Env = append(append(config.Without(os.Environ()), base...), env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}

	tests := []struct {
		name string
		env  []string
		args []string
		want string // in stdout or stderr
	}{
		{"promote to the first environment", nil, []string{"promote", "staging"}, "staging is the first environment"},
		{"promote to an unknown environment", nil, []string{"promote", "prod"}, `no environment "prod": the environments are staging, production`},
		{"rollback of an unknown environment", nil, []string{"rollback", "-env=qa"}, `no environment "qa"`},
		{"rollback to what is not a commit or an image", nil, []string{"rollback", "-service=platform-demo", "-to=not a ref!"}, "is neither a commit in the history of manifests/platform-demo/00-deployment.yaml nor an image reference"},
		{"rollback with nothing deployed before", []string{"ROLLBACK_ENV=production"}, nil, "deploy no other image than"},
		{"status in an unknown format", []string{"STATUS_FORMAT=yaml"}, []string{"status"}, `STATUS_FORMAT="yaml": want json or text`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args == nil {
				args = []string{"rollback"}
			}
			stdout, stderr, code := mage(tt.env, args...)
			if code == 0 || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("mage %v: exit %d, want non-zero and %q\nstdout:\n%s\nstderr:\n%s", args, code, tt.want, stdout, stderr)
			}
		})
	}

	// A rollback in BUMP_MODE=pr without a merge only proposes the change:
	// the report says so, with the pull request or branch, and never that
	// it replaced anything or that git now deploys it.
	t.Run("a proposed rollback on the API", func(t *testing.T) {
		const repo, token = "andrelair-platform/minicloud-gitops", "0123456789abcdef0123456789abcdef01234567"
		seed, err := os.ReadFile(filepath.Join(root, "gitops", stagingManifest))
		if err != nil {
			t.Fatal(err)
		}
		gh := githubtest.New(githubtest.WithGitea(), githubtest.WithBasePath("/api/v1/"))
		t.Cleanup(gh.Close)
		gh.CreateRepo(repo, "main", map[string]string{stagingManifest: string(seed)})
		gh.AddToken(token, githubtest.Token{Login: "platform-bot"})
		reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(reg.Close)
		image, commit := pushImage(t, strings.TrimPrefix(reg.URL, "http://")+"/platform-demo")
		stdout, stderr, code := mage([]string{
			"GITOPS_REPO=" + repo, "GITHUB_API_URL=" + gh.URL, "GITOPS_TOKEN=" + token, "BUMP_MODE=pr",
			"KO_DOCKER_REPO=" + strings.TrimPrefix(reg.URL, "http://"),
		}, "rollback", "-to="+image)
		if code != 0 {
			t.Fatalf("mage rollback -to=%s in pr mode: exit %d\nstdout:\n%s\nstderr:\n%s", image, code, stdout, stderr)
		}
		pulls := gh.Pulls(repo)
		if len(pulls) != 1 || pulls[0].State != "open" {
			t.Fatalf("pull requests = %+v, want one open", pulls)
		}
		wantProposed(t, stdout, fmt.Sprintf("proposed, not deployed: pull request #%d, http://", pulls[0].Number))
		wantProposed(t, stdout, fmt.Sprintf("/pull/%d would deploy %s (%s) to staging; nothing changes there until it is merged", pulls[0].Number, commit[:7], image))
		if got, _ := gh.File(repo, "main", stagingManifest); string(got) != string(seed) {
			t.Errorf("main changed by a rollback that was only proposed")
		}
	})
	t.Run("a proposed rollback on the local loop", func(t *testing.T) {
		// The registry is another process's, as when `mage local` serves
		// it; the target attaches to it.
		reg, err := localregistry.Start(context.Background(), localregistry.Options{Dir: filepath.Join(state, "registry"), Addr: regAddr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		image, commit := pushImage(t, reg.Addr()+"/platform-demo")
		stdout, stderr, code := mage([]string{"BUMP_MODE=pr"}, "rollback", "-to="+image)
		if code != 0 {
			t.Fatalf("mage rollback -to=%s in pr mode on the local loop: exit %d\nstdout:\n%s\nstderr:\n%s", image, code, stdout, stderr)
		}
		wantProposed(t, stdout, fmt.Sprintf("proposed, not deployed: branch bump/staging/platform-demo-%s (open a pull request from it on the host) would deploy %s (%s) to staging", commit[:7], commit[:7], image))
		main, _, err := gitops.Read(context.Background(), filepath.Join(state, "gitops.git"), "main", stagingManifest)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(main), image) {
			t.Errorf("main of the local gitops repository deploys %s, which was only proposed", image)
		}
	})

	t.Run("status of environments nothing serves", func(t *testing.T) {
		stdout, stderr, code := mage(nil, "status", "-json")
		var st struct {
			Targets []struct {
				Service, Environment, Verdict, Path string
			}
		}
		if err := json.Unmarshal([]byte(stdout), &st); err != nil {
			t.Fatalf("mage status -json printed no JSON: %v\n%s\n%s", err, stdout, stderr)
		}
		// Every service of the repository in both environments, which a
		// service `mage new` adds to (the tests pass right after it).
		var got, demo []string
		for _, e := range st.Targets {
			got = append(got, e.Service+"/"+e.Environment+":"+e.Verdict)
			if e.Service == "platform-demo" {
				demo = append(demo, e.Environment+":"+e.Verdict)
			}
			if e.Verdict != "unreachable" {
				t.Errorf("mage status -json: %s in %s is %s, want unreachable", e.Service, e.Environment, e.Verdict)
			}
		}
		if strings.Join(demo, " ") != "staging:unreachable production:unreachable" || code != 1 {
			t.Errorf("mage status -json: %v, exit %d; want platform-demo unreachable in staging and production, exit 1\n%s", got, code, stderr)
		}
	})
}

// stagingManifest is the first environment's manifest in gitops/.
const stagingManifest = "manifests/platform-demo/00-deployment.yaml"

// pushImage pushes a small random image, annotated with the commit it was
// built from as mage publish annotates it, to repo, and returns its
// reference by tag and digest, and the commit.
func pushImage(t *testing.T, repo string) (ref, commit string) {
	t.Helper()
	commit = "5eedc0ffee5eedc0ffee5eedc0ffee5eedc0ffee"
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{publish.AnnotationRevision: commit}).(v1.Image)
	tag, err := name.NewTag(repo + ":" + commit[:7])
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.String() + "@" + digest.String(), commit
}

// wantProposed checks that a target's report says the change was proposed,
// and nothing that says it was deployed.
func wantProposed(t *testing.T, stdout, want string) {
	t.Helper()
	if !strings.Contains(stdout, want) {
		t.Errorf("report lacks %q:\n%s", want, stdout)
	}
	for _, deployed := range []string{"replaced:", "git now deploys", "live now"} {
		if strings.Contains(stdout, deployed) {
			t.Errorf("report of a proposal says %q:\n%s", deployed, stdout)
		}
	}
}
