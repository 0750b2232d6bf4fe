// Package pipeline runs the stages that take a commit to live: for each
// service the commit changes, build the image, push it, bump the gitops
// repository, let the cluster (or the local rollout) pick it up, and verify
// the live version; and promote, roll back and read the status of every
// service in every environment. It owns the local loop's parts (the
// embedded registry, the local gitops repository, a local rollout per
// service and environment), starts them when a stage needs them and stops
// them on Close.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
	"github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/publish"
	"github.com/andrelair-platform/platform-demo/tools/service"
	"github.com/andrelair-platform/platform-demo/tools/stamp"
)

// Pipeline runs stages with one set of settings, for any of its targets
// (a service in an environment). It shares the local registry and the local
// gitops repository between them.
type Pipeline struct {
	s   config.Settings
	log *slog.Logger

	mu   sync.Mutex // guards reg, deps and seeded
	reg  *registry.Registry
	deps map[string]*Deployment
	// seeded are the manifests the local gitops repository is known to
	// hold; gitopsMu serialises the commits that add them.
	seeded   map[string]bool
	gitopsMu sync.Mutex

	// headMu serialises the reads of the local gitops branches' heads,
	// which the followers of every target share (heads).
	headMu sync.Mutex
	heads  map[string]branchHead
}

// branchHead is a branch's head and when it was read.
type branchHead struct {
	commit string
	at     time.Time
}

// New returns a Pipeline; logger nil discards progress.
func New(s config.Settings, logger *slog.Logger) *Pipeline {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{s: s, log: logger, deps: map[string]*Deployment{}, seeded: map[string]bool{}, heads: map[string]branchHead{}}
}

// Settings are the pipeline's settings.
func (p *Pipeline) Settings() config.Settings { return p.s }

// Deployment returns the deployment of a target, one service in one
// environment: its stages and its local parts. The pipeline keeps one per
// target, and Close stops what it started.
func (p *Pipeline) Deployment(t config.Target) *Deployment {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.deps[t.Key()]; ok {
		return d
	}
	log := p.log.With("service", t.Service.Name)
	if t.Environment != config.DefaultEnvironment {
		log = log.With("env", t.Environment)
	}
	d := &Deployment{p: p, t: t, log: log}
	p.deps[t.Key()] = d
	return d
}

// Close stops whatever local parts the pipeline started: each target's
// live version on its local rollout, and the embedded registry.
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	deps := p.deps
	p.deps = map[string]*Deployment{}
	p.mu.Unlock()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range deps {
		wg.Go(func() {
			if err := d.close(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	if p.reg != nil {
		errs = append(errs, p.reg.Close())
		p.reg = nil
	}
	p.mu.Unlock()
	return errors.Join(errs...)
}

// registry starts the embedded registry, once.
func (p *Pipeline) registry(ctx context.Context) (*registry.Registry, error) {
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

// InitGitops creates the local gitops repository from gitops/ if missing,
// and adds the manifest folder of path to a repository seeded before the
// service or environment existed. It does nothing outside the local loop.
func (p *Pipeline) InitGitops(ctx context.Context, branch, path string) error {
	if !p.s.LocalGitops() {
		return nil
	}
	key := branch + ":" + path
	p.mu.Lock()
	done := p.seeded[key]
	p.mu.Unlock()
	if done {
		return nil
	}
	// One commit at a time: two services' folders added side by side
	// would race for the branch.
	p.gitopsMu.Lock()
	defer p.gitopsMu.Unlock()
	opts := gitops.Options{
		Dir: p.s.LocalGitopsDir(), Seed: filepath.Join(p.s.Root, "gitops"), Branch: branch,
		Author: bump.DefaultAuthor,
	}
	created, err := gitops.Init(ctx, opts)
	if err != nil {
		return err
	}
	if created {
		p.log.Info("created the local gitops repository", "dir", p.s.LocalGitopsDir())
	}
	added, err := gitops.Ensure(ctx, opts, path)
	if err != nil {
		return err
	}
	if added {
		p.log.Info("added a manifest folder to the local gitops repository", "path", path)
	}
	p.mu.Lock()
	p.seeded[key] = true
	p.mu.Unlock()
	return nil
}

// localHead returns the head of branch in the local gitops repository, as
// read at most maxAge ago: the followers of every service in every
// environment poll it, and one git process a poll serves them all.
func (p *Pipeline) localHead(ctx context.Context, branch string, maxAge time.Duration) (string, error) {
	p.headMu.Lock()
	defer p.headMu.Unlock()
	if h, ok := p.heads[branch]; ok && time.Since(h.at) < maxAge {
		return h.commit, nil
	}
	head, err := gitops.Head(ctx, p.s.LocalGitopsDir(), branch)
	if err != nil {
		return "", err
	}
	p.heads[branch] = branchHead{commit: head, at: time.Now()}
	return head, nil
}

// Stamps returns what each of services is stamped with at the commit being
// built (GITHUB_SHA, else HEAD and its work tree): the commit that last
// changed it (tools/stamp).
func (p *Pipeline) Stamps(ctx context.Context, services []service.Service) (map[string]stamp.Stamp, error) {
	s := p.s
	settings := []string{publish.ConfigFile}
	if s.KoConfig != "" {
		settings = []string{s.KoConfig}
		if fi, err := os.Stat(filepath.Join(s.Root, s.KoConfig)); err == nil && fi.IsDir() {
			settings = []string{filepath.Join(s.KoConfig, publish.ConfigFile)}
		}
	}
	return stamp.Services(ctx, stamp.Options{
		Root: s.Root, Commit: s.GitHubSHA, Services: services, Platforms: s.Platforms, BuildSettings: settings,
	})
}
