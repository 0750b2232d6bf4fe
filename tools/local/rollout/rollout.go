// Package rollout plays Argo CD's part on one machine: it reads the
// Deployment the gitops repository names, pulls its image from the registry,
// runs the container's entrypoint as a local process with the manifest's
// environment, and puts it behind one stable loopback address, the local
// stand-in for a Kubernetes Service. A new version replaces the old one the
// way a RollingUpdate with maxUnavailable 0 does: the new process must be
// ready before traffic moves, and the old one is stopped only after.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/readyz"
)

// DefaultAddr is where the local rollout serves the live version (the
// local stand-in for a Kubernetes Service) unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// Options configures a Rollout.
type Options struct {
	// Addr is the stable address the live version is served on, e.g.
	// 127.0.0.1:8080. Use 127.0.0.1:0 for a free port.
	Addr string
	// Dir keeps the binaries taken out of images and each version's log.
	Dir string
	// ReadyTimeout bounds how long a new version may take to answer /readyz
	// with 200 (default 30s).
	ReadyTimeout time.Duration
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Rollout serves the current version behind a stable address.
type Rollout struct {
	opts   Options
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	target atomic.Pointer[url.URL]

	mu      sync.Mutex // serialises Apply and Close
	current *instance
}

// Result describes one Apply.
type Result struct {
	// Image is the image now live.
	Image string
	// Changed is false when Image was live already and nothing was done.
	Changed bool
	// PID is the process serving Image.
	PID int
	// Previous is the image that was replaced, and PreviousPID its process,
	// which has exited by the time Apply returns.
	Previous    string
	PreviousPID int
	// Ready is the time from starting the process to its first ready answer.
	Ready time.Duration
}

// Start listens on opts.Addr and serves 503 until the first Apply.
func Start(ctx context.Context, opts Options) (*Rollout, error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create rollout directory: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for the local rollout: %w (is another `mage local` or `mage ci` running? stop it, or move this rollout to a free address)", opts.Addr, err)
	}
	r := &Rollout{opts: opts, log: log, ln: ln}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(r.target.Load())
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			writeError(w, http.StatusBadGateway, "live version unreachable: "+err.Error())
		},
		ErrorLog: nil,
	}
	r.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set(MarkerHeader, "1")
			if r.target.Load() == nil {
				writeError(w, http.StatusServiceUnavailable, "no version rolled out yet")
				return
			}
			proxy.ServeHTTP(w, req)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// MarkerHeader is set on every answer of the stable address, so another
// process can tell a running rollout from some other program on the port.
const MarkerHeader = "Platform-Demo-Rollout"

// Serving reports whether a rollout of another process answers on addr.
func Serving(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get(MarkerHeader) == "1"
}

// URL is the base URL of the live version.
func (r *Rollout) URL() string { return "http://" + r.ln.Addr().String() }

// Apply makes spec live. It starts the new version on a free port, waits
// until it is ready, moves traffic to it, then stops the previous version.
// If the new version fails to become ready, the previous one keeps serving.
func (r *Rollout) Apply(ctx context.Context, spec Spec) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil && r.current.image == spec.Image && r.current.alive() {
		return Result{Image: spec.Image, PID: r.current.pid()}, nil
	}
	bin, imageEnv, err := r.binary(ctx, spec)
	if err != nil {
		return Result{}, err
	}
	started := time.Now()
	next, err := r.launch(spec, bin, imageEnv)
	if err != nil {
		return Result{}, err
	}
	if err := next.waitReady(ctx, r.opts.ReadyTimeout); err != nil {
		next.stop(5 * time.Second)
		return Result{}, fmt.Errorf("roll out %s: %w", spec.Image, err)
	}
	res := Result{Image: spec.Image, Changed: true, PID: next.pid(), Ready: time.Since(started)}
	r.target.Store(next.url)
	prev := r.current
	r.current = next
	r.log.Info("live", "image", spec.Image, "pid", res.PID, "ready", res.Ready.Round(time.Millisecond))
	if prev != nil {
		res.Previous, res.PreviousPID = prev.image, prev.pid()
		// Traffic no longer reaches prev, so its drain has nothing to wait
		// for; Shutdown still lets requests in flight finish.
		prev.stop(30 * time.Second)
		r.log.Info("stopped", "image", prev.image, "pid", res.PreviousPID)
	}
	return res, nil
}

// Close stops the live version and the stable address.
func (r *Rollout) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if err := r.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop serving %s: %w", r.ln.Addr(), err))
	}
	if r.current != nil {
		r.current.stop(30 * time.Second)
		r.current = nil
	}
	return errors.Join(errs...)
}

// instance is one running version.
type instance struct {
	image string
	cmd   *exec.Cmd
	url   *url.URL
	log   string
	done  chan struct{}
	err   error // set before done closes
}

// start starts the command newCmd makes, trying again while the binary is
// "text file busy": a process forked elsewhere in this program (another
// environment's rollout, a build) while the binary was being written holds
// it open until its own exec, for a moment (golang/go#22315; cmd/go retries
// the same way). A Cmd starts once, so each try makes a new one.
func start(newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		cmd := newCmd()
		err := cmd.Start()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || wait > time.Second {
			return cmd, err
		}
		time.Sleep(wait)
	}
}

func (r *Rollout) launch(spec Spec, bin string, imageEnv []string) (*instance, error) {
	port, err := loopback.FreePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(r.opts.Dir, "logs", fmt.Sprintf("%s-%d.log", filepath.Base(bin), time.Now().UnixNano()))
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", logPath, err)
	}
	// The process is not bound to ctx: it must outlive the Apply call and is
	// stopped by the next Apply or by Close, with SIGTERM so it drains.
	cmd, err := start(func() *exec.Cmd {
		cmd := exec.Command(bin, spec.Args...)
		// As in a container, the manifest's env overrides the image's; the
		// port is chosen here because versions overlap during a rollout.
		cmd.Env = append(append(append([]string{}, imageEnv...), spec.Env...), fmt.Sprintf("PORT=%d", port), "SHUTDOWN_DRAIN=0s")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.Dir = r.opts.Dir
		// Pdeathsig stops the service when the rolling-out process dies
		// without cleaning up, so a crashed `mage ci` leaves no stray servers.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
		return cmd
	})
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Image, err)
	}
	in := &instance{
		image: spec.Image, cmd: cmd, log: logPath, done: make(chan struct{}),
		url: &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)},
	}
	go func() {
		in.err = cmd.Wait()
		logFile.Close()
		close(in.done)
	}()
	return in, nil
}

func (in *instance) pid() int { return in.cmd.Process.Pid }

func (in *instance) alive() bool {
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

// waitReady waits until the process answers /readyz with 200, exits, or
// the timeout passes.
func (in *instance) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("not ready after %s", timeout))
	defer cancel()
	err := readyz.Wait(ctx, in.url.String()+"/readyz", readyz.Options{Alive: func(context.Context) error {
		if in.alive() {
			return nil
		}
		return fmt.Errorf("process exited before it was ready (%v)", in.err)
	}})
	if err != nil {
		return fmt.Errorf("%w; its log: %s", err, in.tail())
	}
	return nil
}

// stop sends SIGTERM and waits for exit, killing after grace.
func (in *instance) stop(grace time.Duration) {
	if !in.alive() {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(grace):
		_ = in.cmd.Process.Kill()
		<-in.done
	}
}

func (in *instance) tail() string {
	b, err := os.ReadFile(in.log)
	if err != nil {
		return in.log
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return fmt.Sprintf("%s\n%s", in.log, b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}
