package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/services/kit"
)

// TestRun runs the service as main does, in process: the kit's contract and
// the service's own endpoint answer on one port, and it stops cleanly.
func TestRun(t *testing.T) {
	env := map[string]string{"PORT": "0", "MESSAGE": "hi from a test", "SHUTDOWN_DRAIN": "0s"}
	logs, logw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- kit.Run(ctx, name, func(k string) string { return env[k] }, logw, routes)
		logw.Close()
	}()

	// The first log line says where it listens.
	lines := bufio.NewScanner(logs)
	if !lines.Scan() {
		t.Fatalf("no log line: %v", <-done)
	}
	var listening struct{ Msg, Addr string }
	if err := json.Unmarshal(lines.Bytes(), &listening); err != nil || listening.Msg != kit.ListeningMessage {
		t.Fatalf("first log line = %s, want the %q line", lines.Text(), kit.ListeningMessage)
	}
	go func() { _, _ = io.Copy(io.Discard, logs) }()
	_, port, err := net.SplitHostPort(listening.Addr)
	if err != nil {
		t.Fatalf("listening address %q: %v", listening.Addr, err)
	}
	base := "http://127.0.0.1:" + port

	var root map[string]string
	getJSON(t, base+"/", &root)
	if root["app"] != name || root["message"] != "hi from a test" {
		t.Errorf("GET / = %v, want app %q and MESSAGE's text", root, name)
	}
	var v kit.Version
	getJSON(t, base+kit.VersionPath, &v)
	if v.Version == "" || v.Commit == "" || v.Started == "" {
		t.Errorf("GET %s = %+v, want version, commit and started", kit.VersionPath, v)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v after a clean shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run() did not return 10s after its context ended")
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode GET %s: %v", url, err)
	}
}
