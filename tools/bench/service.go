package bench

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

const serviceGroup = "5 service (loopback HTTP load, load generator and server share the CPUs)"

// bareSource is the bare net/http server the service is compared with.
//
//go:embed testdata/bare/main.go
var bareSource []byte

// endpoints are the paths loaded, each against the service and the bare
// server answering the same body.
var endpoints = []string{"/", "/version", "/healthz"}

// minShareOfBare is the goal: the service serves at least this share of the
// bare handler's throughput.
const minShareOfBare = 0.8

// service measures the service's throughput and latency on each endpoint
// against a bare net/http server returning the same bodies, its start-up
// time and its peak memory under that load.
func (b *bencher) service(ctx context.Context) error {
	svcBin, err := b.serviceBinary(ctx)
	if err != nil {
		return err
	}
	bareBin, err := b.buildBare(ctx)
	if err != nil {
		return err
	}
	load := pickLoader()
	b.rep.Load = load.name()
	bodies := filepath.Join(b.tmp, "bare-bodies.json")

	// cpu is the server's CPU time per request: unlike throughput, it
	// hardly depends on what else the machine runs, so it shows a real
	// difference between the service and the bare handler through noise.
	type series struct{ rate, p50, p99, cpu []float64 }
	svc, bare := map[string]*series{}, map[string]*series{}
	for _, e := range endpoints {
		svc[e], bare[e] = &series{}, &series{}
	}
	var svcStart, bareStart, svcRSS, bareRSS []float64
	failures := 0
	// measure loads each endpoint of both servers once and returns the
	// number of failed requests.
	measure := func(i int, s, bs *server) (int, error) {
		failed := 0
		for j, e := range endpoints {
			targets := []struct {
				srv  *server
				into *series
			}{{s, svc[e]}, {bs, bare[e]}}
			// Alternate which server is loaded first, so that neither always
			// gets the machine right after the other heated it.
			if (i+j)%2 == 1 {
				targets[0], targets[1] = targets[1], targets[0]
			}
			for _, t := range targets {
				cpu0, err := cpuTime(t.srv.pid())
				if err != nil {
					return failed, err
				}
				r, err := load.run(ctx, "http://"+t.srv.addr+e, b.opts.LoadDuration)
				if err != nil {
					return failed, err
				}
				cpu1, err := cpuTime(t.srv.pid())
				if err != nil {
					return failed, err
				}
				if r.Requests > 0 {
					t.into.cpu = append(t.into.cpu, (cpu1-cpu0)/float64(r.Requests))
				}
				failed += r.Errors
				t.into.rate = append(t.into.rate, r.Rate)
				t.into.p50 = append(t.into.p50, r.P50)
				t.into.p99 = append(t.into.p99, r.P99)
			}
		}
		if rss, err := peakRSS(strconv.Itoa(s.pid())); err == nil {
			svcRSS = append(svcRSS, rss)
		}
		if rss, err := peakRSS(strconv.Itoa(bs.pid())); err == nil {
			bareRSS = append(bareRSS, rss)
		}
		return failed, nil
	}
	for i := range b.opts.Runs {
		s, ready, err := startService(ctx, svcBin)
		if err != nil {
			return err
		}
		if i == 0 {
			if err := writeBodies(ctx, "http://"+s.addr, bodies); err != nil {
				s.stop()
				return err
			}
		}
		bs, bareReady, err := startBare(ctx, bareBin, bodies)
		if err != nil {
			s.stop()
			return err
		}
		svcStart, bareStart = append(svcStart, seconds(ready)), append(bareStart, seconds(bareReady))
		failed, err := measure(i, s, bs)
		s.stop()
		bs.stop()
		if err != nil {
			return err
		}
		failures += failed
		b.progress(Service, i, "ready in %s; / %.0f/s vs bare %.0f/s", ready.Round(100*time.Microsecond),
			svc["/"].rate[i], bare["/"].rate[i])
	}
	if failures > 0 {
		b.note("service: %d requests failed or answered non-2xx under load", failures)
	}
	for _, e := range endpoints {
		bareRate := newMeasure(serviceGroup, "bare net/http GET "+e+" throughput", UnitRate, bare[e].rate, nil, nil).sub()
		bareP50 := newMeasure(serviceGroup, "bare p50", UnitSeconds, bare[e].p50, nil, nil)
		bareP99 := newMeasure(serviceGroup, "bare p99", UnitSeconds, bare[e].p99, nil, nil)
		bareCPU := newMeasure(serviceGroup, "bare", UnitSeconds, bare[e].cpu, nil, nil)
		b.add(
			newMeasure(serviceGroup, "GET "+e+" throughput", UnitRate, svc[e].rate, &bareRate, &Goal{OnRatio: true, AtLeast: true, Limit: minShareOfBare}),
			bareRate,
			newMeasure(serviceGroup, "GET "+e+" p50 latency", UnitSeconds, svc[e].p50, &bareP50, nil),
			newMeasure(serviceGroup, "GET "+e+" p99 latency", UnitSeconds, svc[e].p99, &bareP99, nil),
			newMeasure(serviceGroup, "GET "+e+" server CPU per request", UnitSeconds, svc[e].cpu, &bareCPU, nil),
		)
	}
	bareStartM := newMeasure(serviceGroup, "bare start", UnitSeconds, bareStart, nil, nil)
	bareRSSM := newMeasure(serviceGroup, "bare peak RSS", UnitBytes, bareRSS, nil, nil)
	rssM := newMeasure(serviceGroup, "peak RSS under the load (VmHWM)", UnitBytes, svcRSS, &bareRSSM, nil)
	b.add(newMeasure(serviceGroup, "start to ready (exec → /readyz 200)", UnitSeconds, svcStart, &bareStartM, nil), rssM)
	return nil
}

// writeBodies records the service's answers on each endpoint, so that the
// bare server sends the same bytes with the same content type.
func writeBodies(ctx context.Context, base, path string) error {
	type answer struct {
		ContentType string `json:"contentType"`
		Body        string `json:"body"`
	}
	answers := map[string]answer{}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, e := range endpoints {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+e, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("read the service's %s: %w", e, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("read the service's %s: status %d, %v", e, resp.StatusCode, err)
		}
		answers[e] = answer{ContentType: resp.Header.Get("Content-Type"), Body: string(body)}
	}
	b, err := json.Marshal(answers)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// buildBare writes the bare server's source to a module of its own and
// builds it with the flags the service is built with.
func (b *bencher) buildBare(ctx context.Context) (string, error) {
	dir := filepath.Join(b.tmp, "bare")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module bare\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), bareSource, 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(b.tmp, "bin", "bare")
	if _, _, err := runCmd(ctx, dir, []string{"GOWORK=off"}, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "."); err != nil {
		return "", fmt.Errorf("build the bare server: %w", err)
	}
	return out, nil
}
