package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/readyz"
)

// startTimeout bounds how long a started server may take to say where it
// listens and to answer; the service needs tens of milliseconds.
const startTimeout = 30 * time.Second

// server is an HTTP server process the bench started, on a loopback port.
type server struct {
	cmd  *exec.Cmd
	addr string // 127.0.0.1:port
	done chan struct{}
	err  error // set before done closes
	tail bytes.Buffer
}

// startService runs the service binary on a free port and returns once
// /readyz answers 200, with the time from exec to that answer.
func startService(ctx context.Context, bin string) (*server, time.Duration, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT=0", "SHUTDOWN_DRAIN=0s", "LOG_LEVEL=info")
	start := time.Now()
	s, err := launch(ctx, cmd, listeningAddr, false)
	if err != nil {
		return nil, 0, err
	}
	if err := s.waitReady(ctx, "/readyz"); err != nil {
		s.stop()
		return nil, 0, err
	}
	return s, time.Since(start), nil
}

// startBare runs the bare server binary serving bodies (a JSON file) and
// returns once it answers, with the time from exec to that answer.
func startBare(ctx context.Context, bin, bodies string) (*server, time.Duration, error) {
	cmd := exec.Command(bin, bodies)
	start := time.Now()
	s, err := launch(ctx, cmd, func(line string) string { return strings.TrimSpace(line) }, true)
	if err != nil {
		return nil, 0, err
	}
	if err := s.waitReady(ctx, "/healthz"); err != nil {
		s.stop()
		return nil, 0, err
	}
	return s, time.Since(start), nil
}

// listeningAddr returns the port of the service's {"msg":"listening"} log
// line as a loopback address, or "" for any other line.
func listeningAddr(line string) string {
	var l struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "listening" {
		return ""
	}
	_, port, err := net.SplitHostPort(l.Addr)
	if err != nil {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// launch starts cmd and waits, up to startTimeout, for a line of its output
// (stdout when fromStdout, else stderr) from which addrOf reads an address.
// The process is stopped when the bench process dies, so a crashed bench
// leaves no servers behind.
func launch(ctx context.Context, cmd *exec.Cmd, addrOf func(string) string, fromStdout bool) (*server, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var pipe io.ReadCloser
	var err error
	s := &server{cmd: cmd, done: make(chan struct{})}
	if fromStdout {
		pipe, err = cmd.StdoutPipe()
		cmd.Stderr = &limitedBuffer{buf: &s.tail}
	} else {
		pipe, err = cmd.StderrPipe()
	}
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		found := false
		for sc.Scan() {
			if !found {
				if a := addrOf(sc.Text()); a != "" {
					found = true
					addrs <- a
				}
			}
		}
		// Reading to the end keeps the process from blocking on a full pipe.
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case s.addr = <-addrs:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("%s exited before listening: %v %s", cmd.Path, s.err, s.tail.String())
	case <-timer.C:
	case <-ctx.Done():
	}
	s.stop()
	return nil, fmt.Errorf("%s did not say where it listens within %s", cmd.Path, startTimeout)
}

// waitReady waits until path answers 200, for at most startTimeout, and
// fails at once if the server exits first.
func (s *server) waitReady(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeoutCause(ctx, startTimeout, fmt.Errorf("not ready after %s", startTimeout))
	defer cancel()
	err := readyz.Wait(ctx, "http://"+s.addr+path, readyz.Options{Interval: 2 * time.Millisecond, Alive: func(context.Context) error {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready: %v", s.cmd.Path, s.err)
		default:
			return nil
		}
	}})
	if err != nil {
		return fmt.Errorf("%s: %w", s.cmd.Path, err)
	}
	return nil
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit, killing the process after 10s.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// peakRSS returns VmHWM, the peak resident set size, of process pid ("self"
// for this process) in bytes.
func peakRSS(pid string) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("read the peak memory of process %s: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				break
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("read the peak memory of process " + pid + ": no VmHWM line in /proc/" + pid + "/status")
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time process pid has used, in
// seconds.
func cpuTime(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read the CPU time of process %d: %w", pid, err)
	}
	// The command name in parentheses may hold spaces; the fields after it
	// are numbered from 3 (state), so utime (14) and stime (15) are the
	// 12th and 13th after the closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("read the CPU time of process %d: short /proc stat line", pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read the CPU time of process %d: %q %q are not numbers", pid, f[11], f[12])
	}
	return (utime + stime) / clockTicks, nil
}

// limitedBuffer keeps the first 4 KiB written to it, for error messages.
type limitedBuffer struct{ buf *bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// runCmd runs name with args in dir and returns its wall time; the error
// carries the tail of the output.
func runCmd(ctx context.Context, dir string, env []string, name string, args ...string) (time.Duration, []byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		// go test reports a failing test on stdout, go build on stderr.
		out := append(tail(stdout.Bytes(), 4000), tail(stderr.Bytes(), 4000)...)
		return d, stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return d, stdout.Bytes(), nil
}
