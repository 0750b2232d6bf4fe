package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/config"
)

// Serve keeps the local rollout of every service in every environment at
// the gitops head until ctx ends: it checks the head every interval, the
// way Argo CD polls git, and rolls out each new commit. A failed rollout is
// reported and the previous version keeps serving. ready receives each
// target with its live URL once it serves.
func (p *Pipeline) Serve(ctx context.Context, interval time.Duration, ready func(t config.Target, url string)) error {
	err := p.serve(ctx, interval, ready)
	if ctx.Err() != nil {
		// Stopped while starting: what was started is stopped by Close.
		return nil
	}
	return err
}

func (p *Pipeline) serve(ctx context.Context, interval time.Duration, ready func(t config.Target, url string)) error {
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
	var deps []*Deployment
	for _, e := range s.Environments {
		targets, err := s.Targets(e.Name, "")
		if err != nil {
			return err
		}
		for _, t := range targets {
			d := p.Deployment(t)
			// The repository and the target's manifest exist before the
			// rollout reads them.
			if err := p.InitGitops(ctx, t.Branch, t.Path); err != nil {
				return err
			}
			url, err := d.listen(ctx)
			if err != nil {
				return err
			}
			ready(t, url)
			deps = append(deps, d)
		}
	}
	var wg sync.WaitGroup
	for _, d := range deps {
		wg.Go(func() { d.follow(ctx, interval) })
	}
	wg.Wait()
	return nil
}
