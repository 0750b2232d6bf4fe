package targets

import (
	"context"
	"fmt"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/pipeline"
)

// Publish builds the service image with ko and pushes it to
// $KO_DOCKER_REPO (default: the embedded registry); it prints the reference.
func Publish(ctx context.Context, e Env) error {
	s, info, err := e.load(ctx)
	if err != nil {
		return err
	}
	p := pipeline.New(s, e.log())
	defer p.Close(context.WithoutCancel(ctx))
	res, err := p.Publish(ctx, info)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, res.Ref)
	return nil
}

// Bump points the gitops manifest at image, an image its registry holds,
// recording the commit the image says it was built from (its
// org.opencontainers.image.revision annotation), else HEAD's.
func Bump(ctx context.Context, e Env, image string) error {
	s, info, err := e.load(ctx)
	if err != nil {
		return err
	}
	if !s.LocalGitops() {
		if err := bump.CheckCredentials(s.GitopsRepo, s.GitopsToken, s.GitopsApp); err != nil {
			return err
		}
	}
	log := e.log()
	p := pipeline.New(s, log)
	defer p.Close(context.WithoutCancel(ctx))
	if err := p.CheckImage(ctx, image); err != nil {
		return err
	}
	// Every write pins a digest: a tag is written as the digest it names now.
	image, err = p.Pin(ctx, image)
	if err != nil {
		return err
	}
	switch rev, err := p.ImageRevision(ctx, image); {
	case err != nil:
		return err
	case rev == "":
		log.Warn("the image does not say which commit it was built from: recording HEAD's", "commit", info.Commit)
	case rev != info.Commit:
		log.Info("the image was built from another commit than HEAD: recording the image's", "image_commit", rev, "head", info.Commit)
		info = buildinfo.Info{Commit: rev, Version: rev[:min(7, len(rev))]}
	}
	res, err := p.Bump(ctx, image, info)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, res)
	return nil
}

// Verify polls the service's /version until the current commit answers.
func Verify(ctx context.Context, e Env) error {
	s, info, err := e.load(ctx)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	p := pipeline.New(s, e.log())
	res, err := p.Verify(ctx, info.Commit)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s is live at %s (seen after %s, %d polls)\n", info.Commit, secret.URL(p.VerifyURL()), res.Elapsed.Round(time.Millisecond), res.Polls)
	return nil
}

// Local serves the gitops head of every environment on its local rollout
// and rolls out each new bump, until Ctrl-C, which stops what it started
// and ends with success.
func Local(ctx context.Context, e Env) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	p := pipeline.New(s, e.log())
	defer p.Close(context.WithoutCancel(ctx))
	return p.Serve(ctx, time.Second, func(env, url string) {
		fmt.Fprintf(e.Stdout, "serving the gitops head of %s at %s (Ctrl-C stops)\n", env, url)
	})
}
