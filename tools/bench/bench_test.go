package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

func TestParseWrk(t *testing.T) {
	const out = `Running 5s test @ http://127.0.0.1:41234/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms    3.10ms  45.20ms   93.10%
    Req/Sec    12.31k     1.02k   14.20k    71.00%
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    2.61ms
     99%   16.40ms
  122520 requests in 5.00s, 19.40MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  24503.51
Transfer/sec:      3.88MB
`
	got, err := parseWrk(out)
	if err != nil {
		t.Fatalf("parseWrk: %v", err)
	}
	want := loadResult{Rate: 24503.51, P50: 812e-6, P99: 16.4e-3, Errors: 7, Requests: 122520}
	if !near(got.Rate, want.Rate) || !near(got.P50, want.P50) || !near(got.P99, want.P99) || got.Errors != want.Errors || got.Requests != want.Requests {
		t.Errorf("parseWrk = %+v, want %+v", got, want)
	}
}

func TestParseWrkIncomplete(t *testing.T) {
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk(connection refused) = nil error, want one: there is no measurement")
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"812.00us", 812e-6},
		{"1.20ms", 1.2e-3},
		{"1.02s", 1.02},
		{"2.00m", 120},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseWrkDuration(tt.in)
			if err != nil || !near(got, tt.want) {
				t.Errorf("parseWrkDuration(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestListeningAddr(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{name: "all interfaces", line: `{"time":"t","level":"INFO","msg":"listening","addr":"[::]:40123","version":"dev"}`, want: "127.0.0.1:40123"},
		{name: "ipv4", line: `{"msg":"listening","addr":"0.0.0.0:8080"}`, want: "127.0.0.1:8080"},
		{name: "other message", line: `{"msg":"draining","addr":"[::]:1"}`, want: ""},
		{name: "not JSON", line: `listening on :8080`, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listeningAddr(tt.line); got != tt.want {
				t.Errorf("listeningAddr(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

// TestProcReaders reads this process's own entries, which the kernel's
// formats must match.
func TestProcReaders(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	if cpu, err := cpuTime(os.Getpid()); err != nil || cpu < 0 {
		t.Errorf("cpuTime(self) = %v, %v, want a non-negative time", cpu, err)
	}
	if rss, err := peakRSS("self"); err != nil || rss <= 0 {
		t.Errorf("peakRSS(self) = %v, %v, want a positive size", rss, err)
	}
}

// TestWorkspaceChange guards the one-line changes: each call must make a
// new commit that changes one line of its file and nothing else.
func TestWorkspaceChange(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	edits := []edit{serviceEdit, toolsEdit, kitEdit, docsEdit}
	for _, e := range edits {
		p := filepath.Join(root, filepath.FromSlash(e.file))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		// The line as the repository has it, between lines the edit must
		// leave alone.
		src := e.replace("original") + "\n\n// a line after it\n"
		if e.file != docsEdit.file {
			src = "package x\n\n" + src
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "ignored.log"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".gitignore"), []byte("*.log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runGit(ctx, root, "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}

	ws, err := newWorkspace(ctx, root, filepath.Join(t.TempDir(), "copy"))
	if err != nil {
		t.Fatalf("newWorkspace: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws.dir, "ignored.log")); err == nil {
		t.Error("newWorkspace copied a git-ignored file")
	}
	for i, e := range append(edits, edits...) {
		if err := ws.apply(ctx, e); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		stat, err := runGit(ctx, ws.dir, "show", "--numstat", "--format=", "HEAD")
		if err != nil {
			t.Fatal(err)
		}
		if want := "1\t1\t" + e.file; strings.TrimSpace(stat) != want {
			t.Errorf("change %d: HEAD changes %q, want %q", i, strings.TrimSpace(stat), want)
		}
	}
	if status, _ := runGit(ctx, ws.dir, "status", "--porcelain"); status != "" {
		t.Errorf("work tree after the changes is dirty:\n%s", status)
	}
}

func TestRunRejectsFewRuns(t *testing.T) {
	if _, err := Run(context.Background(), Options{Root: t.TempDir(), Runs: 3}); err == nil || !strings.Contains(err.Error(), "at least 5") {
		t.Errorf("Run(Runs: 3) error = %v, want one asking for at least 5", err)
	}
	if _, err := Run(context.Background(), Options{Root: t.TempDir(), Parts: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "unknown part") {
		t.Errorf("Run(Parts: nope) error = %v, want unknown part", err)
	}
}

// TestRunVerifySmoke runs the cheapest part end to end: a loopback server,
// verify.Live against it, and the rows it adds. It asserts what was measured,
// never how fast.
func TestRunVerifySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs verify five times against a loopback server (a few seconds)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Root: t.TempDir(), Parts: []string{Verify}})
	if err != nil {
		t.Fatalf("Run(verify): %v", err)
	}
	if len(rep.Measures) == 0 {
		t.Fatal("Run(verify) reported no measures")
	}
	m := rep.Measures[0]
	if m.Stats.N != MinRuns || m.Goal == nil || m.Met == nil || m.Reference == "" {
		t.Errorf("Run(verify) first measure = %+v, want %d samples, a goal, a verdict and a reference", m, MinRuns)
	}
	if text := rep.Text(); !strings.Contains(text, verifyGroup) {
		t.Errorf("Text() lacks the verify group %q:\n%s", verifyGroup, text)
	}
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, b)
}

// TestRunBumpSmoke runs the bump part against its Contents-API server: the
// happy-path calls and the race of concurrent bumps, with the settings a
// user's bump would get (a token shaped like a real one).
func TestRunBumpSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bumps against a loopback server (a few seconds)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Root: inputstest.Need(t, inputs.Gitops), Parts: []string{Bump}})
	if err != nil {
		t.Fatalf("Run(bump): %v", err)
	}
	if len(rep.Measures) == 0 || !strings.Contains(rep.Text(), bumpGroup) {
		t.Errorf("Run(bump) measured nothing:\n%s", rep.Text())
	}
}
