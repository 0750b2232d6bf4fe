package targets_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/magebin"
)

// TestOperateTargets runs status, promote and rollback as a user types
// them, on a fresh state directory where nothing is deployed or served:
// the flags reach the targets, bad input fails with its cause, and status
// fails while the environments are unreachable, in JSON when asked.
func TestOperateTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the mage targets as processes")
	}
	root := inputs.Need(t, inputs.Targets)
	targets := magebin.Compile(t, root)
	addr := func() string {
		p, err := loopback.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("127.0.0.1:%d", p)
	}
	state := t.TempDir()
	base := []string{"PIPELINE_STATE_DIR=" + state, "LOCAL_ADDR=" + addr(), "LOCAL_ADDR_PRODUCTION=" + addr(), "LOCAL_REGISTRY_ADDR=" + addr()}
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
		{"rollback to what is not a commit or an image", nil, []string{"rollback", "-to=not a ref!"}, "is neither a commit in the history of manifests/platform-demo/00-deployment.yaml nor an image reference"},
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
		var got []string
		for _, e := range st.Targets {
			got = append(got, e.Service+"/"+e.Environment+":"+e.Verdict)
		}
		if strings.Join(got, " ") != "platform-demo/staging:unreachable platform-demo/production:unreachable" || code != 1 {
			t.Errorf("mage status -json: %v, exit %d; want both unreachable, exit 1\n%s", got, code, stderr)
		}
	})
}
