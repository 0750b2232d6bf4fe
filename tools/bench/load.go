package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shape of the HTTP load: two load threads and 32 connections, as in the
// throughput references of this machine, for LoadDuration per endpoint.
const (
	loadThreads     = 2
	loadConnections = 32
)

// wrkPath is where Debian's wrk package installs wrk.
const wrkPath = "/usr/bin/wrk"

// loadResult is what one load run measured.
type loadResult struct {
	// Rate is the throughput in requests per second.
	Rate float64
	// P50 and P99 are latency percentiles in seconds.
	P50, P99 float64
	// Errors counts failed requests and non-2xx answers.
	Errors int
	// Requests is the number of requests completed.
	Requests int
}

// loader drives HTTP load at a URL for a duration.
type loader interface {
	name() string
	run(ctx context.Context, url string, d time.Duration) (loadResult, error)
}

// pickLoader returns wrk when it is installed, else the Go load generator.
func pickLoader() loader {
	if p, err := exec.LookPath(wrkPath); err == nil {
		return wrk{path: p}
	}
	if p, err := exec.LookPath("wrk"); err == nil {
		return wrk{path: p}
	}
	return goLoader{}
}

// wrk runs the wrk benchmarking tool.
type wrk struct{ path string }

func (w wrk) name() string {
	return fmt.Sprintf("wrk -t%d -c%d", loadThreads, loadConnections)
}

func (w wrk) run(ctx context.Context, url string, d time.Duration) (loadResult, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	// wrk stops on its own after -d; the timeout only guards against a hang.
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	_, out, err := runCmd(ctx, "", nil, w.path,
		"-t"+strconv.Itoa(loadThreads), "-c"+strconv.Itoa(loadConnections), "-d"+strconv.Itoa(secs)+"s",
		"--latency", url)
	if err != nil {
		return loadResult{}, err
	}
	return parseWrk(string(out))
}

// parseWrk reads the throughput, the 50th and 99th latency percentiles and
// the errors from wrk --latency output.
func parseWrk(out string) (loadResult, error) {
	var r loadResult
	var haveRate, haveP50, haveP99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk output: requests/sec %q: %w", f[1], err)
			}
			r.Rate, haveRate = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			v, err := parseWrkDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk output: latency %q: %w", f[1], err)
			}
			if f[0] == "50%" {
				r.P50, haveP50 = v, true
			} else {
				r.P99, haveP99 = v, true
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			// "122520 requests in 5.00s, 19.40MB read"
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return r, fmt.Errorf("wrk output: request count %q: %w", f[0], err)
			}
			r.Requests = n
		case len(f) >= 5 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[len(f)-1])
			r.Errors += n
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				r.Errors += n
			}
		}
	}
	if !haveRate || !haveP50 || !haveP99 {
		return r, fmt.Errorf("wrk output has no Requests/sec or latency distribution:\n%s", out)
	}
	return r, nil
}

// parseWrkDuration reads wrk's latency format: 812.00us, 1.20ms, 1.02s, 2.00m.
func parseWrkDuration(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"us", 1e-6}, {"ms", 1e-3}, {"m", 60}, {"s", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, err
			}
			return v * u.scale, nil
		}
	}
	return 0, fmt.Errorf("no unit in %q", s)
}

// goLoader is a closed-loop load generator in this process, used when wrk
// is not installed: loadConnections workers, each with its own keep-alive
// connection, send requests back to back.
type goLoader struct{}

func (goLoader) name() string {
	return fmt.Sprintf("built-in Go load generator, %d connections (wrk not installed)", loadConnections)
}

func (goLoader) run(ctx context.Context, url string, d time.Duration) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: loadConnections, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()

	var mu sync.Mutex
	var all []float64
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range loadConnections {
		wg.Go(func() {
			lat := make([]float64, 0, 1<<14)
			bad := 0
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						bad++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t).Seconds())
				if resp.StatusCode/100 != 2 {
					bad++
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if len(all) == 0 {
		return loadResult{}, fmt.Errorf("load %s: no request succeeded", url)
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return loadResult{Rate: float64(len(all)) / elapsed, P50: pct(0.50), P99: pct(0.99), Errors: errs, Requests: len(all)}, nil
}
