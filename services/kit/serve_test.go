package kit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeDrain guards the shutdown order: readiness drops while the server
// still answers, and only then does the listener close.
func TestServeDrain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	opts := testOptions()
	opts.Drain = 300 * time.Millisecond
	opts.ShutdownTimeout = 5 * time.Second
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	s := newServer(opts)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	client := &http.Client{Transport: &http.Transport{}}
	base := "http://" + ln.Addr().String()
	if code, err := get(client, base+"/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("GET /readyz before shutdown = %d, %v; want 200", code, err)
	}

	cancel()
	// Poll until readiness drops; the drain keeps the server up meanwhile.
	var code int
	for range 1000 {
		if code, err = get(client, base+"/readyz"); err != nil || code == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz after cancel = %d, %v; want 503 while draining", code, err)
	}
	if code, err := get(client, base+"/version"); err != nil || code != http.StatusOK {
		t.Errorf("GET /version while draining = %d, %v; want 200", code, err)
	}

	if err := <-done; err != nil {
		t.Fatalf("Serve() = %v, want nil after a clean shutdown", err)
	}
	if _, err := get(client, base+"/version"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET /version after Serve returned: err = %v, want connection refused", err)
	}

	var msgs []string
	sc := bufio.NewScanner(bytes.NewBufferString(logs.String()))
	for sc.Scan() {
		var line struct{ Msg string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		msgs = append(msgs, line.Msg)
	}
	want := []string{"listening", "draining", "shutting down", "stopped"}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("Serve() log messages mismatch (-want +got):\n%s", diff)
	}
}

// TestServeInFlight guards "nothing in flight is dropped": a request that
// started before the signal gets its answer even after the listener closed,
// and Serve reports a request that outlives the shutdown timeout.
func TestServeInFlight(t *testing.T) {
	tests := []struct {
		name     string
		timeout  time.Duration
		wantCode int  // of the in-flight request
		wantErr  bool // from Serve
	}{
		{name: "finishes", timeout: 10 * time.Second, wantCode: http.StatusOK},
		{name: "outlives timeout", timeout: 50 * time.Millisecond, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			opts := testOptions()
			opts.ShutdownTimeout = tt.timeout
			s := newServer(opts)
			entered, release := make(chan struct{}), make(chan struct{})
			// A request the test holds in flight; the endpoints answer too fast to catch one.
			s.mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
				close(entered)
				<-release
				_, _ = w.Write([]byte("done"))
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, ln) }()

			type result struct {
				code int
				err  error
			}
			slow := make(chan result, 1)
			go func() {
				code, err := get(&http.Client{Transport: &http.Transport{}}, "http://"+addr+"/slow")
				slow <- result{code, err}
			}()
			<-entered
			cancel()
			// Wait for Shutdown to close the listener, its first step.
			for range 1000 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					break
				}
				c.Close()
				time.Sleep(time.Millisecond)
			}

			if tt.wantErr {
				if err := <-served; err == nil {
					t.Errorf("Serve() = nil with a request outliving the %v shutdown timeout, want an error", tt.timeout)
				}
				close(release)
				return
			}
			select {
			case err := <-served:
				t.Fatalf("Serve() = %v before the in-flight request finished", err)
			default:
			}
			close(release)
			if got := <-slow; got.err != nil || got.code != tt.wantCode {
				t.Errorf("in-flight GET /slow = %d, %v; want %d", got.code, got.err, tt.wantCode)
			}
			if err := <-served; err != nil {
				t.Errorf("Serve() = %v, want nil", err)
			}
		})
	}
}

// TestServeListenerError guards against Serve waiting for a signal when it
// cannot serve at all.
func TestServeListenerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := newServer(testOptions()).Serve(context.Background(), ln); err == nil {
		t.Errorf("Serve(closed listener) = nil, want an error")
	}
}

func get(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
