// Package registry serves an OCI registry on a loopback address with its
// storage kept in a directory, so that separate commands (publish, bump, the
// local rollout) see each other's pushes.
//
// Blobs live on disk through go-containerregistry's disk blob handler.
// Manifests and tags live in that registry's memory, so every successful
// manifest write is also appended to a journal in the directory and replayed
// into a fresh registry at start.
package registry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
)

// DefaultAddr is the address the registry listens on when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:5055"

// MarkerHeader is set on every response of a registry started by this
// package. A second process uses it to recognise an address that is already
// served by one and attach to it instead of failing.
const MarkerHeader = "Platform-Demo-Registry"

// journalName is the file in Options.Dir that records manifest writes.
const journalName = "manifests.jsonl"

// maxManifestBytes bounds a manifest body; distribution uses the same limit.
const maxManifestBytes = 4 << 20

// Options configures Start.
type Options struct {
	// Dir holds the registry's storage: blobs under Dir/blobs and the
	// manifest journal in Dir/manifests.jsonl. It is created if missing.
	Dir string
	// Addr is the loopback host:port to serve on; DefaultAddr when empty.
	// Use "127.0.0.1:0" for a free port (tests).
	Addr string
	// Logger receives the registry's request log at debug level and start-up
	// events. Nil discards everything.
	Logger *slog.Logger
}

// Registry is a running local registry, or an attachment to one that
// another process serves on the same address.
type Registry struct {
	addr     string
	attached bool
	ln       net.Listener
	srv      *http.Server
	handler  *handler
	done     chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Addr returns the host:port the registry answers on.
func (r *Registry) Addr() string { return r.addr }

// Close stops serving and closes the journal. It is a no-op for an attached
// registry, whose owner keeps serving.
func (r *Registry) Close() error {
	if r.attached {
		return nil
	}
	r.closeOnce.Do(func() { r.closeErr = r.close() })
	return r.closeErr
}

func (r *Registry) close() error {
	// http.Server.Shutdown would also wait, up to 5 s, for connections that
	// never sent a request (clients open them speculatively). Instead stop
	// accepting, let requests in flight finish, then close the rest.
	err := r.ln.Close()
	<-r.done
	for deadline := time.Now().Add(5 * time.Second); r.handler.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	r.srv.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return errors.Join(err, r.handler.journal.close())
}

// Start serves a registry on opts.Addr with storage in opts.Dir. If the
// address is already served by a registry started by this package in
// another process, Start returns an attached Registry instead.
func Start(ctx context.Context, opts Options) (*Registry, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("start local registry: no storage directory given")
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("start local registry on %s: %w", addr, err)
		}
		if Serving(ctx, addr) {
			logger.Info("attached to the local registry served by another process", "addr", addr)
			return &Registry{addr: addr, attached: true}, nil
		}
		return nil, fmt.Errorf("start local registry on %s: the address is in use by another program; stop it or set LOCAL_REGISTRY_ADDR to a free loopback address (for example 127.0.0.1:5056)", addr)
	}

	h, err := newHandler(opts.Dir, logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	r := &Registry{
		addr:    ln.Addr().String(),
		ln:      ln,
		handler: h,
		done:    make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0),
		},
	}
	go func() {
		defer close(r.done)
		// Serve returns when Close closes the listener; any other error also
		// ends serving, and clients then see a refused connection.
		_ = r.srv.Serve(ln)
	}()
	logger.Debug("local registry serving", "addr", r.addr, "dir", opts.Dir)
	return r, nil
}

func newHandler(dir string, logger *slog.Logger) (*handler, error) {
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("create registry storage %s: %w", blobs, err)
	}
	reg := ggcr.New(
		ggcr.WithBlobHandler(ggcr.NewDiskBlobHandler(blobs)),
		ggcr.Logger(slog.NewLogLogger(logger.Handler(), slog.LevelDebug)),
	)
	path := filepath.Join(dir, journalName)
	n, err := replay(path, reg)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open registry journal %s: %w", path, err)
	}
	logger.Debug("replayed registry journal", "path", path, "records", n)
	return &handler{next: reg, journal: &journal{f: f}}, nil
}

// record is one journal line: a manifest write the registry accepted.
type record struct {
	// Op is "put" or "delete".
	Op          string `json:"op"`
	Repo        string `json:"repo"`
	Reference   string `json:"reference"`
	ContentType string `json:"contentType,omitempty"`
	Manifest    []byte `json:"manifest,omitempty"`
}

type journal struct {
	mu sync.Mutex
	f  *os.File
}

// append writes rec as one line with a single write, so a crash leaves at
// most a torn last line, which replay skips.
func (j *journal) append(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = j.f.Write(append(b, '\n'))
	return err
}

func (j *journal) close() error { return j.f.Close() }

// handler marks every response and journals manifest writes.
type handler struct {
	next    http.Handler
	journal *journal
	// inflight counts requests being served, for Close.
	inflight atomic.Int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h.inflight.Add(1)
	defer h.inflight.Add(-1)
	w.Header().Set(MarkerHeader, "1")
	repo, ref, ok := manifestPath(req.URL.Path)
	if !ok || (req.Method != http.MethodPut && req.Method != http.MethodDelete) {
		h.next.ServeHTTP(w, req)
		return
	}

	var body []byte
	if req.Method == http.MethodPut {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxManifestBytes+1))
		if err != nil {
			http.Error(w, "read manifest: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxManifestBytes {
			http.Error(w, "manifest too large", http.StatusRequestEntityTooLarge)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}

	// The lock spans the write and its journal line so that the journal
	// order is the order the registry applied, which replay relies on
	// (an index must follow the manifests it lists).
	h.journal.mu.Lock()
	defer h.journal.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	h.next.ServeHTTP(sw, req)
	rec := record{Op: "delete", Repo: repo, Reference: ref}
	switch {
	case req.Method == http.MethodPut && sw.status == http.StatusCreated:
		rec = record{Op: "put", Repo: repo, Reference: ref, ContentType: req.Header.Get("Content-Type"), Manifest: body}
	case req.Method == http.MethodDelete && sw.status == http.StatusAccepted:
	default:
		return
	}
	// The response is already sent; a journal failure only costs
	// persistence of this write, and the registry keeps serving it.
	_ = h.journal.append(rec)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// manifestPath splits /v2/<repo>/manifests/<reference>.
func manifestPath(p string) (repo, ref string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	repo, ref = rest[:i], rest[i+len("/manifests/"):]
	if ref == "" || strings.Contains(ref, "/") {
		return "", "", false
	}
	return repo, ref, true
}

// replay feeds the journal at path through h, returning the number of
// records applied. A missing journal is an empty one.
func replay(path string, h http.Handler) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open registry journal %s: %w", path, err)
	}
	defer f.Close()

	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 2*maxManifestBytes)
	n := 0
	var torn error
	for line := 1; sc.Scan(); line++ {
		if torn != nil {
			// Only the last line may be torn by a crash mid-write.
			return n, torn
		}
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			torn = fmt.Errorf("replay registry journal %s: line %d: %w; move the file away to start with an empty registry", path, line, err)
			continue
		}
		if err := apply(h, rec); err != nil {
			return n, fmt.Errorf("replay registry journal %s: line %d: %w; move the file away to start with an empty registry", path, line, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("read registry journal %s: %w", path, err)
	}
	return n, nil
}

func apply(h http.Handler, rec record) error {
	target := "/v2/" + rec.Repo + "/manifests/" + rec.Reference
	var req *http.Request
	var want int
	switch rec.Op {
	case "put":
		req = httptest.NewRequest(http.MethodPut, target, bytes.NewReader(rec.Manifest))
		req.Header.Set("Content-Type", rec.ContentType)
		want = http.StatusCreated
	case "delete":
		req = httptest.NewRequest(http.MethodDelete, target, nil)
		want = http.StatusAccepted
	default:
		return fmt.Errorf("unknown operation %q", rec.Op)
	}
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	if rw.Code != want {
		return fmt.Errorf("%s %s: status %d: %s", req.Method, target, rw.Code, strings.TrimSpace(rw.Body.String()))
	}
	return nil
}

// Serving reports whether addr answers GET /v2/ as a registry started by
// this package, in this process or another.
func Serving(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return false
	}
	// No proxy: the address is loopback and must be reached directly.
	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode == http.StatusOK && resp.Header.Get(MarkerHeader) == "1"
}

func checkLoopback(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("local registry address %q: %w; set LOCAL_REGISTRY_ADDR to a loopback host:port such as %s", addr, err, DefaultAddr)
	}
	if loopback.Host(addr) {
		return nil
	}
	return fmt.Errorf("local registry address %q is not a loopback address; set LOCAL_REGISTRY_ADDR to a loopback host:port such as %s", addr, DefaultAddr)
}
