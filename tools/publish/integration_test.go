//go:build integration

package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// distributionRegistry is Debian's build of the CNCF distribution registry.
const distributionRegistry = "/usr/bin/docker-registry"

// distribution is a docker-registry process on loopback with htpasswd auth.
type distribution struct {
	addr   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan struct{}
}

// startDistribution runs docker-registry with one user and storage in a
// temporary directory.
func startDistribution(t *testing.T, user, password string) *distribution {
	t.Helper()
	if _, err := os.Stat(distributionRegistry); err != nil {
		t.Skipf("%s is not installed (apt-get install docker-registry): %v", distributionRegistry, err)
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: integration-test-secret
auth:
  htpasswd:
    realm: platform-demo-test
    path: %s
`, filepath.Join(dir, "storage"), addr, htpasswd)), 0o600); err != nil {
		t.Fatal(err)
	}

	d := &distribution{addr: addr, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(distributionRegistry, "serve", config)
	d.cmd.Stdout = d.stderr
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", distributionRegistry, err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(d.stop)

	// Ready when /v2/ asks for credentials.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return d
			}
		}
		select {
		case <-d.exited:
			t.Fatalf("%s exited before serving:\n%s", distributionRegistry, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not serve on %s: last error %v; output:\n%s", distributionRegistry, addr, err, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the registry and waits until its port is closed.
func (d *distribution) stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Kill()
	<-d.exited
}

// TestIntegrationDistribution publishes to the distribution registry with
// basic auth, as a self-hosted registry or ghcr.io would be used.
func TestIntegrationDistribution(t *testing.T) {
	const user, password = "ci", "integration-password-1"
	d := startDistribution(t, user, password)

	t.Run("right credentials", func(t *testing.T) {
		opts := testOptions(t, d.addr)
		opts.Username, opts.Password = user, password
		res, err := Image(context.Background(), opts)
		if err != nil {
			t.Fatalf("Image to %s: %v", d.addr, err)
		}
		auth := remote.WithAuth(&authn.Basic{Username: user, Password: password})
		desc, err := remote.Head(mustRef(t, opts.Repo+":"+testVersion), auth)
		if err != nil {
			t.Fatalf("HEAD the pushed tag: %v", err)
		}
		if desc.Digest.String() != res.Digest {
			t.Errorf("tag %s has digest %s, want %s", testVersion, desc.Digest, res.Digest)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		opts := testOptions(t, d.addr)
		opts.Username, opts.Password = user, "not-the-password"
		_, err := Image(context.Background(), opts)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Image with a wrong password: error = %v, want %v", err, ErrUnauthorized)
		}
		for _, want := range []string{"unauthorized", d.addr} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if strings.Contains(err.Error(), opts.Password) {
			t.Errorf("error %q contains the password", err)
		}
	})

	t.Run("stopped registry", func(t *testing.T) {
		d.stop()
		opts := testOptions(t, d.addr)
		opts.Username, opts.Password = user, password
		// The context only bounds a hang; a refused connection fails at once.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err := Image(ctx, opts)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Image to a stopped registry: error = %v, want %v", err, ErrUnreachable)
		}
		for _, want := range []string{"unreachable", d.addr} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})
}
