package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/config"
)

// ServeOptions say how Serve keeps the local rollouts.
type ServeOptions struct {
	// Interval is how often each rollout looks at its gitops head, the way
	// Argo CD polls git.
	Interval time.Duration
	// Ready receives each target with its live URL once it serves.
	Ready func(t config.Target, url string)
	// Discover, when set, lists every target as the repository has them
	// now; Serve calls it every Interval and starts serving the targets it
	// does not serve yet: a service made by `mage new` while Serve runs.
	// Targets that disappear keep serving until Serve ends.
	Discover func() ([]config.Target, error)
}

// Serve keeps the local rollout of every service in every environment at
// the gitops head until ctx ends: it checks the head every interval and
// rolls out each new commit. A failed rollout is reported and the previous
// version keeps serving.
func (p *Pipeline) Serve(ctx context.Context, opts ServeOptions) error {
	err := p.serve(ctx, opts)
	if ctx.Err() != nil {
		// Stopped while starting: what was started is stopped by Close.
		return nil
	}
	return err
}

func (p *Pipeline) serve(ctx context.Context, opts ServeOptions) error {
	s := p.s
	if !s.LocalGitops() {
		return errors.New("the local rollout serves the local gitops repository: unset GITOPS_REPO (a cluster runs Argo CD instead)")
	}
	if s.LocalRegistry() {
		// The rollouts pull from the embedded registry: serve it too.
		if _, err := p.registry(ctx); err != nil {
			return err
		}
	}
	all, err := s.AllTargets()
	if err != nil {
		return err
	}
	// Every target listens before any follows, so that a taken address
	// fails the start with nothing left running.
	var deps []*Deployment
	for _, t := range all {
		d, err := p.listen(ctx, opts, t)
		if err != nil {
			return err
		}
		deps = append(deps, d)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	served := map[string]bool{}
	for _, d := range deps {
		wg.Go(func() { d.follow(ctx, opts.Interval) })
		served[d.t.Name()] = true
	}
	if opts.Discover != nil {
		wg.Go(func() { p.discover(ctx, &wg, opts, served) })
	}
	return nil
}

// listen starts the rollout of t on its address and reports it ready.
func (p *Pipeline) listen(ctx context.Context, opts ServeOptions, t config.Target) (*Deployment, error) {
	d := p.Deployment(t)
	// The repository and the target's manifest exist before the rollout
	// reads them.
	if err := p.InitGitops(ctx, t.Branch, t.Path); err != nil {
		return nil, err
	}
	url, err := d.listen(ctx)
	if err != nil {
		return nil, err
	}
	opts.Ready(t, url)
	return d, nil
}

// discover serves each target Discover lists that is not served yet, every
// Interval until ctx ends. What fails (a service half-written, its address
// taken by a `mage ci` that serves it for its run) is logged once and tried
// again.
func (p *Pipeline) discover(ctx context.Context, wg *sync.WaitGroup, opts ServeOptions, served map[string]bool) {
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	var last string
	report := func(msg string, err error) {
		if err.Error() != last {
			p.log.Warn(msg, "err", err)
			last = err.Error()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		targets, err := opts.Discover()
		if err != nil {
			report("look for new services (the ones served keep serving)", err)
			continue
		}
		for _, t := range targets {
			if served[t.Name()] {
				continue
			}
			d, err := p.listen(ctx, opts, t)
			if err != nil {
				if ctx.Err() == nil {
					report("serve a new service (tried again)", err)
				}
				continue
			}
			wg.Go(func() { d.follow(ctx, opts.Interval) })
			p.log.Info("serving a new service", "service", t.Service.Name, "env", t.Environment)
			served[t.Name()] = true
		}
	}
}
