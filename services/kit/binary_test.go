package kit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBinaryVersion guards the documented ldflags symbols: a binary linked
// with -X VersionSymbol and -X CommitSymbol reports exactly those values.
func TestBinaryVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service binary")
	}
	t.Parallel()
	const version, commit = binVersion, binCommit
	svc := startService(t, buildService(t), "SHUTDOWN_DRAIN=0s")

	var got map[string]string
	getJSON(t, svc.base+"/version", &got)
	started, err := time.Parse(time.RFC3339, got["started"])
	if err != nil || time.Since(started) > time.Minute || time.Since(started) < -time.Second {
		t.Errorf("GET /version started = %q, want the time the process started", got["started"])
	}
	delete(got, "started")
	if diff := cmp.Diff(map[string]string{"version": version, "commit": commit}, got); diff != "" {
		t.Errorf("GET /version mismatch (-want +got):\n%s", diff)
	}
	var root map[string]string
	getJSON(t, svc.base+"/", &root)
	if root["version"] != version || root["commit"] != commit {
		t.Errorf("GET / version, commit = %q, %q, want %q, %q", root["version"], root["commit"], version, commit)
	}

	svc.stop(t)
	if err := svc.wait(); err != nil {
		t.Errorf("service exit after SIGTERM: %v, want status 0; logs:\n%s", err, svc.logs)
	}
}

// TestBinaryCrash guards FAULT_CRASH_AFTER, a version that dies after it
// went live: the process exits 1 on its own, saying why.
func TestBinaryCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service binary")
	}
	t.Parallel()
	svc := startService(t, buildService(t), "FAULT_CRASH_AFTER=300ms")
	var v Version
	getJSON(t, svc.base+VersionPath, &v)
	select {
	case <-svc.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the service still runs 10s after FAULT_CRASH_AFTER=300ms")
	}
	var exit *exec.ExitError
	if !errors.As(svc.err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("exit = %v, want status 1", svc.err)
	}
	if !strings.Contains(svc.logs.String(), "FAULT_CRASH_AFTER") {
		t.Errorf("logs do not say why the process ended:\n%s", svc.logs)
	}
}

// TestBinaryDrain guards the shutdown contract under load: after SIGTERM,
// /readyz answers 503 before the listener closes, every request the service
// accepted gets its answer, and the process exits 0.
func TestBinaryDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service binary")
	}
	t.Parallel()
	svc := startService(t, buildService(t),
		"SHUTDOWN_DRAIN=300ms", "SHUTDOWN_TIMEOUT=10s")

	const workers, perWorker = 8, 2000
	// One idle connection per goroutine, so that no worker dials mid-run: a
	// connection dialed as the listener closes would be reset by the kernel
	// before the service could accept it.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers + 1}}
	defer client.CloseIdleConnections()

	// seq orders events across goroutines without reading clocks.
	var seq, notReadyAt, refusedAt, served atomic.Int64
	mark := func(at *atomic.Int64) { at.CompareAndSwap(0, seq.Add(1)) }
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	// request reports whether to go on: a refused connection was never
	// accepted, which is how a closed listener shows; anything else that is
	// not a 200 is a request the service dropped.
	request := func(path string, want int) bool {
		code, err := get(client, svc.base+path)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			mark(&refusedAt)
			return false
		case err != nil:
			fail("GET %s: %v", path, err)
			return false
		case code != want:
			fail("GET %s = %d, want %d", path, code, want)
			return false
		}
		return true
	}

	warm := make(chan struct{})
	var warmOnce sync.Once
	paths := []string{"/", "/version", "/healthz"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if !request(paths[(w+i)%len(paths)], http.StatusOK) {
					return
				}
				if served.Add(1) >= 100 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	select {
	case <-warm:
	case <-loadDone:
		t.Fatalf("load ended before the service answered 100 requests: %v", failures)
	}

	if err := svc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	// Probe readiness as a load balancer would, until the listener closes.
	for range 10000 {
		code, err := get(client, svc.base+"/readyz")
		if errors.Is(err, syscall.ECONNREFUSED) {
			mark(&refusedAt)
			break
		}
		if err != nil {
			fail("GET /readyz: %v", err)
			break
		}
		if code == http.StatusServiceUnavailable && notReadyAt.Load() == 0 {
			mark(&notReadyAt)
			// The drain keeps the service answering after readiness drops.
			request("/version", http.StatusOK)
		}
		time.Sleep(5 * time.Millisecond)
	}
	exitErr := svc.wait()
	wg.Wait()

	t.Logf("served %d requests; readiness dropped at event %d, listener closed at event %d", served.Load(), notReadyAt.Load(), refusedAt.Load())
	if len(failures) > 0 {
		t.Errorf("%d accepted requests failed (of %d served), first: %s", len(failures), served.Load(), failures[0])
	}
	if exitErr != nil {
		t.Errorf("service exit after SIGTERM: %v, want status 0", exitErr)
	}
	switch n, r := notReadyAt.Load(), refusedAt.Load(); {
	case n == 0:
		t.Errorf("GET /readyz never answered 503 before the listener closed")
	case r == 0:
		t.Errorf("the listener never closed: no request was refused")
	case r < n:
		t.Errorf("a connection was refused (event %d) before /readyz answered 503 (event %d)", r, n)
	}
	want := []string{"listening", "draining", "shutting down", "stopped"}
	if diff := cmp.Diff(want, svc.logs.messages()); diff != "" {
		t.Errorf("service log messages mismatch (-want +got):\n%s\nlogs:\n%s", diff, svc.logs)
	}
}

// binVersion and binCommit are the build metadata the tests' service is
// linked with.
const binVersion, binCommit = "7c0ffee", "7c0ffee1234567890abcdef1234567890abcdef0"

// built is the kit's smallest service, linked once for all the tests that
// run it: a link with the metrics library takes about a second of CPU.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildService links the kit's smallest service with binVersion and
// binCommit, the way the build pipeline links every service, once.
func buildService(t *testing.T) string {
	t.Helper()
	trackSources(t)
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "kit-binary-test-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "hello")
		ldflags := fmt.Sprintf("-s -w -X %s=%s -X %s=%s", VersionSymbol, binVersion, CommitSymbol, binCommit)
		out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", built.bin, "./testdata/hello").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build -ldflags %q: %v\n%s", ldflags, err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// trackSources opens every file of the module from the test process. The
// binary built below is compiled from them, but the test binary leaves out
// what no test calls (Main, the testdata service), and Go's test cache keys
// a result on the test binary and the files the test opened: without this,
// a change to Main would be served a result cached before it.
func trackSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatalf("track the sources the binary is built from: %v", err)
	}
}

// service is a running service binary.
type service struct {
	cmd    *exec.Cmd
	base   string // e.g. http://127.0.0.1:41234
	logs   *logSink
	exited chan struct{}
	err    error // of cmd.Wait, once exited is closed
}

// startService runs bin on a free port with env added to the environment, and
// returns once it logs the address it listens on. Cleanup kills it if the
// test left it running.
func startService(t *testing.T, bin string, env ...string) *service {
	t.Helper()
	svc := &service{
		cmd:    exec.Command(bin),
		logs:   &logSink{addr: make(chan string, 1)},
		exited: make(chan struct{}),
	}
	svc.cmd.Env = append(os.Environ(), append([]string{"PORT=0", "LOG_LEVEL=info"}, env...)...)
	svc.cmd.Stderr = svc.logs
	if err := svc.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		svc.err = svc.cmd.Wait()
		close(svc.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-svc.exited:
		default:
			_ = svc.cmd.Process.Kill()
			<-svc.exited
		}
	})

	select {
	case addr := <-svc.logs.addr:
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("listening address %q: %v", addr, err)
		}
		svc.base = "http://127.0.0.1:" + port
	case <-svc.exited:
		t.Fatalf("service exited before listening: %v\n%s", svc.err, svc.logs)
	}
	return svc
}

// stop sends SIGTERM.
func (s *service) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
}

// wait returns the exit error of the service once it has exited.
func (s *service) wait() error {
	<-s.exited
	return s.err
}

// logSink collects the JSON log lines of a service and sends the address of
// its "listening" line on addr.
type logSink struct {
	addr    chan string
	mu      sync.Mutex
	buf     bytes.Buffer
	scanned int
	found   bool
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for !l.found {
		rest := l.buf.Bytes()[l.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.scanned += i + 1
		var line struct{ Msg, Addr string }
		if json.Unmarshal(rest[:i], &line) == nil && line.Msg == "listening" {
			l.addr <- line.Addr
			l.found = true
		}
	}
	return len(p), nil
}

// messages returns the msg field of every log line.
func (l *logSink) messages() []string {
	var msgs []string
	for _, raw := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var line struct{ Msg string }
		if err := json.Unmarshal([]byte(raw), &line); err != nil {
			msgs = append(msgs, "not JSON: "+raw)
			continue
		}
		msgs = append(msgs, line.Msg)
	}
	return msgs
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
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
