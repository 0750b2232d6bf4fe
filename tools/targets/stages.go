package targets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/pipeline"
	"github.com/andrelair-platform/platform-demo/tools/service"
)

// Publish builds the image of every service (or the one named), stamped
// with the commit that last changed it, with ko and pushes it to
// $KO_DOCKER_REPO/<service> (default: the embedded registry); it prints
// each reference.
func Publish(ctx context.Context, e Env, svc *string) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	targets, err := s.Targets(s.First().Name, e.arg(svc, ""))
	if err != nil {
		return err
	}
	p := pipeline.New(s, e.log())
	defer p.Close(context.WithoutCancel(ctx))
	stamps, err := p.Stamps(ctx, services(targets))
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range targets {
		res, err := p.Deployment(t).Publish(ctx, stamps[t.Service.Name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Service.Name, err))
			continue
		}
		fmt.Fprintln(e.Stdout, res.Ref)
	}
	return errors.Join(errs...)
}

// Bump points the manifest of the service an image is of, in the first
// environment, at the image: an image its registry holds, recording the
// commit it says it was built from (its org.opencontainers.image.revision
// annotation), else the service's stamp. The service is the last element
// of the image's repository (<prefix>/<service>), or the one named.
func Bump(ctx context.Context, e Env, image string, svc *string) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	if !s.LocalGitops() {
		if err := bump.CheckCredentials(s.GitopsRepo, s.GitopsToken, s.GitopsApp); err != nil {
			return err
		}
	}
	named := e.arg(svc, "")
	if named == "" {
		ref, err := name.ParseReference(image)
		if err != nil {
			return fmt.Errorf("image %q: %w; want <registry>/<service>:tag@sha256:..., as mage publish prints it", image, err)
		}
		repo := ref.Context().RepositoryStr()
		named = repo[strings.LastIndexByte(repo, '/')+1:]
		if _, err := service.Find(s.Services, named); err != nil {
			return fmt.Errorf("image %s: its repository does not end in a service's name (%w); name the service: go tool mage bump -service=<name> %s", image, err, image)
		}
	}
	t, err := s.Target(named, s.First().Name)
	if err != nil {
		return err
	}
	log := e.log()
	p := pipeline.New(s, log)
	defer p.Close(context.WithoutCancel(ctx))
	if err := p.CheckImage(ctx, image); err != nil {
		return err
	}
	// Every write pins a digest: a tag is written as the digest it names now.
	if image, err = p.Pin(ctx, image); err != nil {
		return err
	}
	commit, err := p.ImageRevision(ctx, image)
	if err != nil {
		return err
	}
	if commit == "" {
		stamps, err := p.Stamps(ctx, []service.Service{t.Service})
		if err != nil {
			return err
		}
		commit = stamps[t.Service.Name].Commit
		log.Warn("the image does not say which commit it was built from: recording the service's stamp", "commit", commit)
	}
	res, err := p.Deployment(t).Bump(ctx, image, commit)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, res)
	return nil
}

// Verify polls the /version of every service (or the one named) in the
// first environment until each answers the commit that last changed it.
func Verify(ctx context.Context, e Env, svc *string) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	targets, err := s.Targets(s.First().Name, e.arg(svc, ""))
	if err != nil {
		return err
	}
	p := pipeline.New(s, e.log())
	defer p.Close(context.WithoutCancel(ctx))
	stamps, err := p.Stamps(ctx, services(targets))
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range targets {
		d := p.Deployment(t)
		commit := stamps[t.Service.Name].Commit
		res, err := d.Verify(ctx, commit)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Service.Name, err))
			continue
		}
		fmt.Fprintf(e.Stdout, "%s: %s is live at %s (seen after %s, %d polls)\n", t.Service.Name, commit, secret.URL(d.VerifyURL()), res.Elapsed.Round(time.Millisecond), res.Polls)
	}
	return errors.Join(errs...)
}

// Local serves the gitops head of every service in every environment on
// its local rollout and rolls out each new bump, until Ctrl-C, which stops
// what it started and ends with success.
func Local(ctx context.Context, e Env) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	p := pipeline.New(s, e.log())
	defer p.Close(context.WithoutCancel(ctx))
	return p.Serve(ctx, pipeline.ServeOptions{
		Interval: time.Second,
		Ready: func(t config.Target, url string) {
			fmt.Fprintf(e.Stdout, "serving the gitops head of %s at %s (Ctrl-C stops)\n", t.Name(), url)
		},
		// A service `mage new` makes while this runs is served too, with
		// the settings it would have after a restart.
		Discover: func() ([]config.Target, error) {
			s, err := e.config()
			if err != nil {
				return nil, err
			}
			return s.AllTargets()
		},
	})
}

// services are the services of targets.
func services(targets []config.Target) []service.Service {
	out := make([]service.Service, len(targets))
	for i, t := range targets {
		out[i] = t.Service
	}
	return out
}
