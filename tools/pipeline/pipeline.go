// Package pipeline runs the stages that take a commit to live: publish the
// image, bump the gitops repository, let the cluster (or the local rollout)
// pick it up, and verify the live version. It owns the local loop's parts
// (the embedded registry, the local gitops repository, the local rollout),
// starts them when a stage needs them and stops them on Close.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/andrelair-platform/platform-demo/tools/argocd"
	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
	"github.com/andrelair-platform/platform-demo/tools/local/podman"
	"github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/publish"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// Pipeline runs stages with one set of settings, those of one
// environment. In returns the pipeline of another environment, which shares
// the local registry.
type Pipeline struct {
	s    config.Settings
	log  *slog.Logger
	base *slog.Logger // log without the environment

	// root is the pipeline In was called on; nil for that one, which owns
	// the registry and the other environments' pipelines.
	root *Pipeline
	mu   sync.Mutex // guards reg and envs of the root
	reg  *registry.Registry
	envs map[string]*Pipeline
	// seeded is set once the local gitops repository holds the
	// environment's manifest.
	seeded atomic.Bool

	ro  *rollout.Rollout
	pod *podman.Pod // LOCAL_RUNTIME=podman
	// roURL is the address of a rollout another process serves (`mage
	// local`), when this one attached to it instead of starting its own.
	roURL string
}

// New returns a Pipeline; logger nil discards progress.
func New(s config.Settings, logger *slog.Logger) *Pipeline {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{s: s, log: envLogger(logger, s.Environment), base: logger}
}

// envLogger names the environment in each record, when the repository
// declares environments.
func envLogger(l *slog.Logger, env string) *slog.Logger {
	if env == "" || env == config.DefaultEnvironment {
		return l
	}
	return l.With("env", env)
}

// In returns the pipeline of the named environment. It shares p's local
// registry, and p.Close stops what it starts.
func (p *Pipeline) In(env string) (*Pipeline, error) {
	root := p
	if p.root != nil {
		root = p.root
	}
	if env == p.s.Environment {
		return p, nil
	}
	root.mu.Lock()
	defer root.mu.Unlock()
	if e, ok := root.envs[env]; ok {
		return e, nil
	}
	if env == root.s.Environment {
		return root, nil
	}
	s, err := root.s.In(env)
	if err != nil {
		return nil, err
	}
	e := &Pipeline{s: s, log: envLogger(root.base, env), base: root.base, root: root}
	if root.envs == nil {
		root.envs = map[string]*Pipeline{}
	}
	root.envs[env] = e
	return e, nil
}

// Close stops whatever local parts the pipeline started: the live version
// of the local rollout of each environment and the embedded registry.
func (p *Pipeline) Close(ctx context.Context) error {
	var errs []error
	p.mu.Lock()
	envs := p.envs
	p.envs = nil
	p.mu.Unlock()
	for _, e := range envs {
		errs = append(errs, e.Close(ctx))
	}
	if p.pod != nil {
		errs = append(errs, p.pod.Down(ctx))
		p.pod = nil
	}
	if p.ro != nil {
		errs = append(errs, p.ro.Close(ctx))
		p.ro = nil
	}
	p.mu.Lock()
	if p.reg != nil {
		errs = append(errs, p.reg.Close())
		p.reg = nil
	}
	p.mu.Unlock()
	return errors.Join(errs...)
}

// Publish builds and pushes the image of info's commit.
func (p *Pipeline) Publish(ctx context.Context, info buildinfo.Info) (publish.Result, error) {
	b, err := p.Build(ctx, info)
	if err != nil {
		return publish.Result{}, err
	}
	return b.Push(ctx)
}

// Build builds the image of info's commit without pushing it; Push on the
// result pushes it.
func (p *Pipeline) Build(ctx context.Context, info buildinfo.Info) (*publish.Built, error) {
	repo, base := p.s.ImageRepo(), p.s.Base
	if p.s.LocalRegistry() {
		reg, err := p.registry(ctx)
		if err != nil {
			return nil, err
		}
		repo = reg.Addr() + "/" + config.LocalImageName
		if base == "" {
			// The production base lives on gcr.io; the local loop must work
			// with nothing but Go, so it builds its own.
			base = publish.BaseLocal
		}
	}
	return publish.Build(ctx, publish.Options{
		Dir: p.s.Root, Config: p.s.KoConfig, Repo: repo,
		Version: info.Version, Commit: info.Commit, CommitTime: info.Time,
		Source: p.s.SourceURL, Platforms: p.s.Platforms, Base: base,
		Username: p.s.RegistryUsername, Password: p.s.RegistryPassword,
		Logger: p.log,
	})
}

// Refresh asks Argo CD to look at the gitops repository now.
func (p *Pipeline) Refresh(ctx context.Context) error {
	return argocd.Refresh(ctx, argocd.Options{Server: p.s.ArgoServer, Token: p.s.ArgoToken, App: p.s.ArgoApp})
}

// Rollout makes the gitops head live on the local rollout. When another
// process (`mage local`) serves the rollout, it leaves the rollout to it and
// reports Changed false.
func (p *Pipeline) Rollout(ctx context.Context) (rollout.Result, error) {
	if p.s.LocalRuntime == "podman" {
		return p.playPodman(ctx)
	}
	ro, err := p.rollout(ctx)
	if err != nil || ro == nil {
		return rollout.Result{}, err
	}
	spec, _, err := p.gitopsHead(ctx)
	if err != nil {
		return rollout.Result{}, err
	}
	if p.s.LocalRegistry() {
		// The image is pulled from the embedded registry, which must be up.
		if _, err := p.registry(ctx); err != nil {
			return rollout.Result{}, err
		}
	}
	return ro.Apply(ctx, spec)
}

// VerifyURL is the base URL verify polls: VERIFY_URL, or the local
// rollout's address in the local loop. Empty means there is nothing to poll.
func (p *Pipeline) VerifyURL() string {
	switch {
	case p.s.VerifyURL != "":
		return p.s.VerifyURL
	case p.pod != nil:
		return p.pod.URL
	case p.ro != nil:
		return p.ro.URL()
	case p.roURL != "":
		return p.roURL
	case p.s.LocalGitops():
		return "http://" + p.s.LocalAddr
	}
	return ""
}

// Verify waits until commit is live at VerifyURL. In the local loop, with
// no rollout of its own, it needs a `mage local` serving the rollout.
func (p *Pipeline) Verify(ctx context.Context, commit string) (verify.Result, error) {
	return p.verify(ctx, commit, p.s.VerifyTimeout)
}

// verify is Verify with its own bound on the wait.
func (p *Pipeline) verify(ctx context.Context, commit string, timeout time.Duration) (verify.Result, error) {
	if p.s.VerifyURL == "" && p.s.LocalGitops() && p.ro == nil && p.pod == nil && p.roURL == "" && !rollout.Serving(ctx, p.s.LocalAddr) {
		return verify.Result{}, fmt.Errorf("nothing serves the local rollout of %s on %s: start `go tool mage local` in another terminal, or set %s", p.s.Environment, p.s.LocalAddr, p.s.VarFor("VERIFY_URL"))
	}
	return verify.Live(ctx, verify.Options{
		URL: p.VerifyURL(), Commit: commit,
		Consecutive: p.s.VerifyConsecutive, Interval: p.s.VerifyInterval, Timeout: timeout,
		Progress: verify.LogProgress(p.log),
	})
}

// Serve keeps the local rollout of every environment at the gitops head
// until ctx ends: it checks the head every interval, the way Argo CD polls
// git, and rolls out each new commit. A failed rollout is reported and the
// previous version keeps serving. ready receives each environment's live
// URL once it serves.
func (p *Pipeline) Serve(ctx context.Context, interval time.Duration, ready func(env, url string)) error {
	err := p.serve(ctx, interval, ready)
	if ctx.Err() != nil {
		// Stopped while starting: what was started is stopped by Close.
		return nil
	}
	return err
}

func (p *Pipeline) serve(ctx context.Context, interval time.Duration, ready func(env, url string)) error {
	if !p.s.LocalGitops() {
		return errors.New("the local rollout serves the local gitops repository: unset GITOPS_REPO (a cluster runs Argo CD instead)")
	}
	if p.s.LocalRegistry() {
		// The rollouts pull from the embedded registry: serve it too.
		if _, err := p.registry(ctx); err != nil {
			return err
		}
	}
	// The environments read one repository: create it before they do.
	if err := p.InitGitops(ctx); err != nil {
		return err
	}
	var envs []*Pipeline
	for _, e := range p.s.Environments {
		ep, err := p.In(e.Name)
		if err != nil {
			return err
		}
		url, err := ep.listen(ctx)
		if err != nil {
			return err
		}
		ready(e.Name, url)
		envs = append(envs, ep)
	}
	var wg sync.WaitGroup
	for _, ep := range envs {
		wg.Go(func() { ep.follow(ctx, interval) })
	}
	wg.Wait()
	return nil
}

// listen takes the environment's local address for its rollout and
// returns its URL.
func (p *Pipeline) listen(ctx context.Context) (string, error) {
	if p.s.LocalRuntime == "podman" {
		// The pod publishes LOCAL_ADDR itself; there is no proxy to start.
		return "http://" + p.s.LocalAddr, nil
	}
	ro, err := p.rollout(ctx)
	if err != nil {
		return "", err
	}
	if ro == nil {
		return "", fmt.Errorf("another process already serves the local rollout of %s on %s: stop it, or set %s to a free address", p.s.Environment, p.s.LocalAddr, p.s.LocalAddrVar())
	}
	return ro.URL(), nil
}

// follow rolls out each new gitops head of the environment until ctx ends.
// A failed rollout is tried again, after 1s, 2s, 4s... up to 30s, as Argo
// CD retries a failed sync; the previous version serves meanwhile.
func (p *Pipeline) follow(ctx context.Context, interval time.Duration) {
	var (
		seen    string // the head rolled out (or that had nothing to roll out)
		failed  string // the head whose rollout failed last, tried again at retryAt
		retryAt time.Time
		backoff time.Duration
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		_, head, err := p.gitopsHead(ctx)
		var remote *rollout.RemoteImageError
		switch {
		case err != nil && ctx.Err() == nil:
			p.log.Error("read gitops head", "err", err)
		case err != nil, head == seen, head == failed && time.Now().Before(retryAt):
		default:
			if head != failed {
				backoff = 0
			}
			res, err := p.Rollout(ctx)
			switch {
			case errors.As(err, &remote):
				p.log.Info("nothing to roll out yet: waiting for the first bump", "gitops", head[:7], "image", remote.Image)
				seen = head
			case err != nil && ctx.Err() == nil:
				backoff = min(max(2*backoff, time.Second), 30*time.Second)
				failed, retryAt = head, time.Now().Add(backoff)
				p.log.Error("rollout failed; the previous version keeps serving", "gitops", head[:7], "retry_in", backoff, "err", err)
			case err == nil:
				if res.Changed {
					p.log.Info("rolled out", "gitops", head[:7], "image", res.Image, "ready", res.Ready.Round(time.Millisecond))
				}
				seen, failed = head, ""
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// playPodman runs the gitops head with `podman kube play --replace`, a real
// OCI runtime instead of a host process. It replaces the previous pod
// rather than overlapping with it: podman has no rolling update.
func (p *Pipeline) playPodman(ctx context.Context) (rollout.Result, error) {
	if err := p.InitGitops(ctx); err != nil {
		return rollout.Result{}, err
	}
	manifest, _, err := p.readHead(ctx)
	if err != nil {
		return rollout.Result{}, err
	}
	spec, err := rollout.SpecFromManifest(manifest, p.s.GitopsContainer)
	if err != nil {
		return rollout.Result{}, err
	}
	// Like the process rollout, podman runs only what the local loop
	// published; it must not pull the seed manifest's public image.
	if ref, err := name.ParseReference(spec.Image); err != nil || !loopback.Host(ref.Context().RegistryStr()) {
		return rollout.Result{}, &rollout.RemoteImageError{Image: spec.Image}
	}
	if p.s.LocalRegistry() {
		if _, err := p.registry(ctx); err != nil {
			return rollout.Result{}, err
		}
	}
	_, portStr, err := net.SplitHostPort(p.s.LocalAddr)
	if err != nil {
		return rollout.Result{}, fmt.Errorf("LOCAL_ADDR=%q: want host:port: %w", p.s.LocalAddr, err)
	}
	port, _ := strconv.Atoi(portStr) // 0 lets podman.Play pick a free port
	pod, err := podman.Play(ctx, podman.Options{
		Manifest: manifest, Image: spec.Image, Container: p.s.GitopsContainer, HostPort: port,
		Name: p.podName(), Dir: p.s.LocalDir("podman"), Logger: p.log,
	})
	if err != nil {
		return rollout.Result{}, err
	}
	previous := ""
	if p.pod != nil {
		previous = p.pod.Name
	}
	p.pod = &pod
	return rollout.Result{Image: spec.Image, Changed: true, Ready: pod.Ready, Previous: previous}, nil
}

// podName names the pod of an environment after the first, so that the
// environments' pods do not replace each other; the first keeps the
// Deployment's own name.
func (p *Pipeline) podName() string {
	if p.s.FirstEnvironment() {
		return ""
	}
	return config.LocalImageName + "-" + p.s.Environment
}

// InitGitops creates the local gitops repository from gitops/ if missing,
// and adds the environment's manifest folder to a repository seeded before
// the environment was declared.
func (p *Pipeline) InitGitops(ctx context.Context) error {
	if !p.s.LocalGitops() || p.seeded.Load() {
		return nil
	}
	opts := gitops.Options{
		Dir: p.s.LocalGitopsDir(), Seed: filepath.Join(p.s.Root, "gitops"), Branch: p.s.GitopsBranch,
		Author: bump.DefaultAuthor,
	}
	created, err := gitops.Init(ctx, opts)
	if err != nil {
		return err
	}
	if created {
		p.log.Info("created the local gitops repository", "dir", p.s.LocalGitopsDir())
	}
	added, err := gitops.Ensure(ctx, opts, p.s.GitopsPath)
	if err != nil {
		return err
	}
	if added {
		p.log.Info("added the environment's manifests to the local gitops repository", "path", p.s.GitopsPath)
	}
	p.seeded.Store(true)
	return nil
}

func (p *Pipeline) gitopsHead(ctx context.Context) (rollout.Spec, string, error) {
	if err := p.InitGitops(ctx); err != nil {
		return rollout.Spec{}, "", err
	}
	manifest, head, err := p.readHead(ctx)
	if err != nil {
		return rollout.Spec{}, "", err
	}
	spec, err := rollout.SpecFromManifest(manifest, p.s.GitopsContainer)
	if err != nil {
		return rollout.Spec{}, "", fmt.Errorf("gitops %s at %s: %w", p.s.GitopsPath, head[:7], err)
	}
	return spec, head, nil
}

// readHead reads the environment's manifest at the head of the local
// gitops repository, and the head. A manifest the bump could not read
// either is the same error as status, promote and rollback give for it.
func (p *Pipeline) readHead(ctx context.Context) ([]byte, string, error) {
	content, head, err := gitops.Read(ctx, p.s.LocalGitopsDir(), p.s.GitopsBranch, p.s.GitopsPath)
	if err != nil {
		return nil, "", err
	}
	if _, err := manifest.Read(content, p.s.GitopsContainer); err != nil {
		return nil, "", p.manifestError(bump.Revision{Commit: head, Problem: err})
	}
	return content, head, nil
}

func (p *Pipeline) registry(ctx context.Context) (*registry.Registry, error) {
	if p.root != nil {
		return p.root.registry(ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reg != nil {
		return p.reg, nil
	}
	reg, err := registry.Start(ctx, registry.Options{
		Dir: filepath.Join(p.s.StateDir, "registry"), Addr: p.s.RegistryAddr, Logger: p.log,
	})
	if err != nil {
		return nil, err
	}
	p.reg = reg
	return reg, nil
}

// rollout starts the local rollout, or returns nil when another process
// serves it on the same address.
func (p *Pipeline) rollout(ctx context.Context) (*rollout.Rollout, error) {
	if p.ro != nil || p.roURL != "" {
		return p.ro, nil
	}
	if rollout.Serving(ctx, p.s.LocalAddr) {
		p.roURL = "http://" + p.s.LocalAddr
		p.log.Info("the local rollout is served by another process; it rolls out the bump itself", "url", p.roURL)
		return nil, nil
	}
	ro, err := rollout.Start(ctx, rollout.Options{
		Addr: p.s.LocalAddr, Dir: p.s.LocalDir("rollout"), Logger: p.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w; %s moves it", p.s.Environment, err, p.s.LocalAddrVar())
	}
	p.ro = ro
	return ro, nil
}
