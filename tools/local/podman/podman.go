// Package podman runs a Deployment manifest under podman on one machine, with
// `podman kube play`: a real OCI runtime enforces the manifest's
// securityContext (user, read-only root filesystem, capabilities, seccomp),
// which a plain process cannot show.
//
// Podman 4.3, as Debian 12 ships it, differs from a kubelet in ways that
// matter here; Play rewrites the manifest only where it must (see localize)
// and writes the containers.conf it runs podman with, so a fresh machine
// needs nothing but the podman, runc and catatonit packages.
package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/readyz"
)

// ErrNotInstalled reports that podman, runc or catatonit is missing.
var ErrNotInstalled = errors.New("podman or runc not installed")

// ConfigFile is the name of the containers.conf Play writes into
// Options.Dir.
const ConfigFile = "containers.conf"

// containersConf is what podman 4.3 needs on a machine without systemd and
// with low default limits: runc (crun is not installed), the cgroupfs
// manager, and explicit nofile/nproc limits.
const containersConf = `# Written by the platform-demo podman runner; podman reads it through
# CONTAINERS_CONF. Rewritten on every run.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`

// DefaultContainerPort is the port the service listens on in its container.
const DefaultContainerPort = 8080

// Options configures Play.
type Options struct {
	// Manifest is the Deployment YAML to play, as the gitops repository
	// holds it. It may hold other documents, which are passed through.
	Manifest []byte
	// Image replaces the image of Container, e.g. the reference publish
	// returned for a loopback registry. Empty keeps the manifest's image.
	Image string
	// Container names the container that serves; its ContainerPort is
	// published on HostPort.
	Container string
	// ContainerPort is the containerPort of Container to publish; 0 means
	// DefaultContainerPort.
	ContainerPort int
	// HostPort is the port on 127.0.0.1 that ContainerPort is published on;
	// 0 picks a free one.
	HostPort int
	// Name replaces the Deployment's metadata.name, from which podman names
	// the pod; empty keeps it. Two runs with the same name replace each
	// other's pod.
	Name string
	// Dir holds the containers.conf podman runs with and the rewritten
	// manifest. It is created if missing.
	Dir string
	// ReadyTimeout bounds how long the pod may take, pull included, to
	// answer /readyz with 200 after it is started (default 60s).
	ReadyTimeout time.Duration
	// Podman is the podman executable; empty means "podman" on PATH.
	Podman string
	// Logger receives progress, and podman's output at debug level; nil
	// discards it.
	Logger *slog.Logger
}

// Pod is a pod started by Play.
type Pod struct {
	// Name is podman's name of the pod, e.g. platform-demo-pod-0.
	Name string
	// Container is podman's name of the serving container, e.g.
	// platform-demo-pod-0-platform-demo.
	Container string
	// URL is the base URL of the published port, http://127.0.0.1:<port>.
	URL string
	// Manifest is the path of the rewritten manifest podman played.
	Manifest string
	// Config is the path of the containers.conf podman ran with; set
	// CONTAINERS_CONF to it to look at the pod with podman by hand.
	Config string
	// Rewrites says, one line each, how the manifest was changed to run here.
	Rewrites []string
	// Ready is the time from `kube play` to the first ready answer.
	Ready time.Duration

	podman string
	grace  int
	log    *slog.Logger
}

// Play runs the Deployment in opts.Manifest with `podman kube play
// --replace`, so a pod of the same name is replaced, and waits until the
// serving container answers /readyz on the published port. On failure it
// removes what it started.
func Play(ctx context.Context, opts Options) (Pod, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.ContainerPort == 0 {
		opts.ContainerPort = DefaultContainerPort
	}
	if opts.Dir == "" {
		return Pod{}, errors.New("play manifest with podman: empty state directory")
	}
	bin, err := lookPath(opts.Podman)
	if err != nil {
		return Pod{}, err
	}
	if opts.HostPort == 0 {
		if opts.HostPort, err = loopback.FreePort(); err != nil {
			return Pod{}, err
		}
	}
	loc, err := localize(opts.Manifest, local{
		container: opts.Container, image: opts.Image, name: opts.Name,
		containerPort: opts.ContainerPort, hostPort: opts.HostPort,
	})
	if err != nil {
		return Pod{}, err
	}
	for _, r := range loc.rewrites {
		log.Debug("manifest rewritten for podman", "rewrite", r)
	}

	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return Pod{}, fmt.Errorf("resolve podman state directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Pod{}, fmt.Errorf("create podman state directory: %w", err)
	}
	p := Pod{
		URL:      fmt.Sprintf("http://%s:%d", loopbackIP, opts.HostPort),
		Manifest: filepath.Join(dir, loc.name+".yaml"),
		Config:   filepath.Join(dir, ConfigFile),
		Rewrites: loc.rewrites,
		podman:   bin,
		grace:    loc.grace,
		log:      log,
	}
	if err := os.WriteFile(p.Config, []byte(containersConf), 0o644); err != nil {
		return Pod{}, fmt.Errorf("write %s: %w", p.Config, err)
	}
	if err := os.WriteFile(p.Manifest, loc.manifest, 0o644); err != nil {
		return Pod{}, fmt.Errorf("write %s: %w", p.Manifest, err)
	}

	args := []string{"kube", "play", "--replace"}
	// The local registry speaks plain HTTP on loopback; anything else keeps
	// TLS verification.
	if loopbackImage(loc.image) {
		args = append(args, "--tls-verify=false")
	}
	args = append(args, p.Manifest)
	log.Info("playing manifest with podman", "manifest", p.Manifest, "url", p.URL)
	started := time.Now()
	out, err := p.run(ctx, args...)
	if err != nil {
		p.cleanup()
		hint := ""
		if strings.Contains(err.Error(), "address already in use") {
			hint = fmt.Sprintf(" (port %d on %s is taken: stop what listens there, or choose another port)", opts.HostPort, loopbackIP)
		}
		return Pod{}, fmt.Errorf("podman kube play %s: %w%s", p.Manifest, err, hint)
	}
	podID := playedPod(out)
	if podID == "" {
		p.cleanup()
		return Pod{}, fmt.Errorf("podman kube play %s: no pod in its output %q", p.Manifest, out)
	}
	if err := p.names(ctx, podID, opts.Container); err != nil {
		p.cleanup()
		return Pod{}, err
	}
	if err := p.waitReady(ctx, opts.ReadyTimeout); err != nil {
		p.cleanup()
		return Pod{}, err
	}
	p.Ready = time.Since(started)
	log.Info("pod ready", "pod", p.Name, "url", p.URL, "ready", p.Ready.Round(time.Millisecond))
	return p, nil
}

// Down removes the pod, giving its containers the manifest's
// terminationGracePeriodSeconds to stop after SIGTERM, as a kubelet would;
// podman 4.3's `kube play` ignores that field. Down of a pod that is gone
// already succeeds.
func (p Pod) Down(ctx context.Context) error {
	if p.Name == "" {
		return errors.New("remove pod: Pod was not started by Play")
	}
	log := p.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := p.run(ctx, "pod", "rm", "--force", "--ignore", "--time", strconv.Itoa(p.grace), p.Name); err != nil {
		return fmt.Errorf("remove pod %s: %w (remove it by hand: CONTAINERS_CONF=%s podman pod rm -f %s)", p.Name, err, p.Config, p.Name)
	}
	log.Info("pod removed", "pod", p.Name)
	return nil
}

// cleanup removes every pod the played manifest defines, after a failed Play.
// It is bounded by its own timeout: the caller's context may be what failed.
func (p Pod) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.run(ctx, "kube", "down", p.Manifest); err != nil {
		p.log.Warn("remove the pods of a failed play", "manifest", p.Manifest, "err", err)
	}
}

// names finds podman's names for the pod and its serving container.
// Podman 4.3 calls them <deployment>-pod-0 and <pod>-<container>; reading
// them back keeps Play right when a later podman names them otherwise.
func (p *Pod) names(ctx context.Context, podID, container string) error {
	out, err := p.run(ctx, "pod", "inspect", podID)
	if err != nil {
		return fmt.Errorf("inspect pod %s: %w", podID, err)
	}
	var info struct {
		Name       string
		Containers []struct{ Name string }
	}
	// Podman 4.3 prints one object; later versions print an array.
	if err := json.Unmarshal(out, &info); err != nil {
		var list []json.RawMessage
		if err2 := json.Unmarshal(out, &list); err2 != nil || len(list) != 1 {
			return fmt.Errorf("inspect pod %s: decode: %w", podID, err)
		}
		if err := json.Unmarshal(list[0], &info); err != nil {
			return fmt.Errorf("inspect pod %s: decode: %w", podID, err)
		}
	}
	p.Name = info.Name
	for _, c := range info.Containers {
		if strings.HasSuffix(c.Name, "-"+container) {
			p.Container = c.Name
		}
	}
	if p.Name == "" || p.Container == "" {
		return fmt.Errorf("inspect pod %s: no container named after %q in pod %q", podID, container, p.Name)
	}
	return nil
}

// waitReady waits until /readyz answers 200 on the published port, and
// fails early when the container stops or restarts; podman 4.3 ignores
// readinessProbe. Inspecting the container costs a podman process, so it
// runs once a second.
func (p *Pod) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("not ready after %s", timeout))
	defer cancel()
	err := readyz.Wait(ctx, p.URL+"/readyz", readyz.Options{Interval: 50 * time.Millisecond, Alive: p.running, AliveEvery: time.Second})
	if err != nil {
		return fmt.Errorf("pod %s: %w; its log:\n%s", p.Name, err, p.logs())
	}
	return nil
}

// running fails when the serving container has stopped or been restarted.
func (p *Pod) running(ctx context.Context) error {
	out, err := p.run(ctx, "container", "inspect", "--format", "{{.State.Status}} {{.RestartCount}}", p.Container)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the caller reports the timeout
		}
		return fmt.Errorf("inspect container %s: %w", p.Container, err)
	}
	status, restarts, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	switch {
	case status == "exited" || status == "stopped":
		return fmt.Errorf("container %s %s", p.Container, status)
	case restarts != "0":
		return fmt.Errorf("container %s restarted %s times", p.Container, restarts)
	}
	return nil
}

// logs returns the tail of the serving container's log, or why it can't.
func (p *Pod) logs() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := p.run(ctx, "logs", "--tail", "20", p.Container)
	if err != nil {
		return fmt.Sprintf("(podman logs %s: %v)", p.Container, err)
	}
	return string(out)
}

// run runs podman with the package's containers.conf and returns its
// standard output. A failure carries the end of its standard error.
func (p Pod) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, p.podman, args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.Config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if p.log != nil && stderr.Len() > 0 {
		p.log.Debug("podman", "args", args, "stderr", stderr.String())
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, tail(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// noise are podman 4.3 messages that appear on every run without systemd or
// syslog and say nothing about the failure at hand.
var noise = []string{"failed to connect to syslog", "unable to get systemd connection"}

// tail returns the last meaningful lines of podman's standard error.
func tail(stderr string) string {
	var keep []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		skip := line == ""
		for _, n := range noise {
			skip = skip || strings.Contains(line, n)
		}
		if !skip {
			keep = append(keep, line)
		}
	}
	if len(keep) > 10 {
		keep = keep[len(keep)-10:]
	}
	return strings.Join(keep, "\n")
}

// playedPod returns the first pod ID in `kube play` output, which lists
// "Pod:" followed by the ID.
func playedPod(out []byte) string {
	lines := strings.Fields(string(out))
	for i, l := range lines {
		if l == "Pod:" && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	return ""
}

// HelperDirs are where podman 4.3 looks for its helper programs before
// PATH: the default of containers.conf's helper_binaries_dir, which the
// containers.conf Play writes leaves as it is.
var HelperDirs = []string{"/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman"}

// MissingError names a program Play needs that is not installed, and the
// Debian package that installs it.
type MissingError struct {
	// Program is the program looked for, and Where where it was looked for.
	Program, Where string
	// Package is the Debian package that installs it.
	Package string
	// Why says what needs it.
	Why string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s not found in %s (%s): install it: apt-get install %s", e.Program, e.Where, e.Why, e.Package)
}

// Unwrap makes a MissingError an ErrNotInstalled.
func (e *MissingError) Unwrap() error { return ErrNotInstalled }

// Programs are the programs Play needs, as podman finds them.
type Programs struct {
	// Podman, Runc and Catatonit are their paths.
	Podman, Runc, Catatonit string
}

// Find finds podman (podman on PATH when empty), runc, the runtime the
// containers.conf Play writes names, and catatonit, from which podman
// builds its pause image when it cannot pull one (always, offline):
// in helperDirs (HelperDirs when nil), then on PATH, as podman looks for
// it. Debian's podman only recommends the catatonit package, so an
// install with --no-install-recommends lacks it, and every `kube play`
// then fails with "finding pause binary". Find reports every program
// missing, each a *MissingError.
func Find(podman string, helperDirs []string) (Programs, error) {
	if podman == "" {
		podman = "podman"
	}
	if helperDirs == nil {
		helperDirs = HelperDirs
	}
	var p Programs
	var errs []error
	var err error
	if p.Podman, err = exec.LookPath(podman); err != nil {
		errs = append(errs, &MissingError{Program: podman, Where: "PATH", Package: "podman", Why: "it runs the pod"})
	}
	if p.Runc, err = exec.LookPath("runc"); err != nil {
		errs = append(errs, &MissingError{Program: "runc", Where: "PATH", Package: "runc", Why: "the OCI runtime podman is configured with"})
	}
	if p.Catatonit = helper("catatonit", helperDirs); p.Catatonit == "" {
		errs = append(errs, &MissingError{Program: "catatonit", Where: strings.Join(helperDirs, ", ") + " or PATH", Package: "catatonit",
			Why: "podman builds its pause image from it when it cannot pull one"})
	}
	return p, errors.Join(errs...)
}

// helper finds a podman helper program as podman does: the first
// executable file of that name in dirs, else on PATH; "" when none.
func helper(name string, dirs []string) string {
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
			return path
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return path
}

// lookPath finds podman and checks that runc and catatonit are installed.
func lookPath(podman string) (string, error) {
	p, err := Find(podman, nil)
	if err != nil {
		return "", err
	}
	return p.Podman, nil
}

// loopbackImage reports whether image is pulled from a loopback registry.
func loopbackImage(image string) bool {
	host, _, _ := strings.Cut(image, "/")
	return loopback.Host(host)
}
