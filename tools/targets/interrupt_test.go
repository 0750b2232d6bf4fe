package targets_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/magetest"
	"github.com/andrelair-platform/platform-demo/tools/internal/syncbuf"
)

// TestInterrupt guards the long-running targets against the way a user
// stops them: Ctrl-C in a terminal, which sends SIGINT to the whole
// foreground process group. Mage gives a target five seconds to return
// after it; `mage run` and `mage local` must stop what they started within
// them and exit 0, with no error.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the mage targets as processes")
	}
	src := inputstest.Need(t, inputs.Targets, inputs.Gitops)
	targets := magetest.Compile(t, src)
	// The targets run in a workspace of the stand-in service: they build
	// it, not this repository's services.
	root := t.TempDir()
	if err := fixture.Repo(root, filepath.Join(src, "gitops"), fixture.Reference); err != nil {
		t.Fatal(err)
	}
	port := func() string {
		p, err := loopback.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(p)
	}
	tests := []struct {
		target string
		env    map[string]string
		// ready says when the target serves: a URL that answers 200.
		ready func(env map[string]string) string
	}{
		{"run", map[string]string{"PORT": port()},
			func(env map[string]string) string { return "http://127.0.0.1:" + env["PORT"] + "/readyz" }},
		{"local", map[string]string{"LOCAL_ADDR": "127.0.0.1:" + port(), "LOCAL_ADDR_PRODUCTION": "127.0.0.1:" + port(), "LOCAL_REGISTRY_ADDR": "127.0.0.1:" + port()},
			// The rollout answers 503 until the first bump; its registry 200.
			func(env map[string]string) string { return "http://" + env["LOCAL_REGISTRY_ADDR"] + "/v2/" }},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			env := map[string]string{"PIPELINE_STATE_DIR": t.TempDir()}
			for k, v := range tt.env {
				env[k] = v
			}
			cmd := exec.Command(targets, tt.target)
			cmd.Dir = root
			cmd.Env = config.Without(os.Environ())
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			// A process group of its own, as a shell gives a foreground job.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out syncbuf.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

			if err := waitOK(tt.ready(env), exited, 3*time.Minute); err != nil {
				t.Fatalf("mage %s never served: %v\n%s", tt.target, err, out.String())
			}
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("mage %s after Ctrl-C: %v, want exit status 0\n%s", tt.target, err, out.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("mage %s still runs 10s after Ctrl-C\n%s", tt.target, out.String())
			}
			if s := out.String(); strings.Contains(s, "Error:") || strings.Contains(s, "cleanup timeout") {
				t.Errorf("mage %s printed an error after Ctrl-C:\n%s", tt.target, s)
			}
		})
	}
}

// waitOK polls url until it answers 200, the process exits, or timeout.
func waitOK(url string, exited <-chan error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited first: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
