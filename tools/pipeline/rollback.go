package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/service"
)

// RollbackDepth is how many revisions of a manifest a rollback looks back
// through for the image to return to.
const RollbackDepth = 50

// RollbackOptions configures Rollback.
type RollbackOptions struct {
	// Settings is the resolved configuration.
	Settings config.Settings
	// Environment is the environment to roll back; empty means the first.
	Environment string
	// Service is the service to roll back; empty means every service, or
	// the one whose image To names.
	Service string
	// To is what to go back to: a source commit (full or at least 7
	// characters) found in the manifest's history, or an image reference.
	// Empty means the image the manifest deployed before the current one.
	To string
	// Reason says why, for the gitops commit (ROLLBACK_REASON).
	Reason string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Rollback points a service's manifest in an environment back at an
// earlier image (each service's, when no service is named), with the
// bump's ordering guard deliberately overridden, then rolls it out (or
// refreshes Argo CD) and verifies it. Its gitops commit says it is a
// rollback, from what, to what and why. The summary names what it replaced
// and what is live now.
func Rollback(ctx context.Context, opts RollbackOptions) (Summary, error) {
	s := opts.Settings
	if opts.Environment == "" {
		opts.Environment = s.First().Name
	}
	p := New(s, opts.Logger)
	defer p.Close(context.WithoutCancel(ctx))
	r := newRun(Summary{Action: "rollback", Environment: opts.Environment, Mode: s.Mode(), Deploy: true}, p.log)
	// One line, as the gitops commit records it, and as the summary's
	// first line shows it.
	reason := bump.OneLine(opts.Reason)
	if reason == "" {
		reason = "none given (ROLLBACK_REASON)"
	}
	r.sum.Why = "reason: " + reason

	svc, err := rollbackService(s, opts.Service, opts.To)
	if err != nil {
		return r.done(err)
	}
	targets, err := s.Targets(opts.Environment, svc)
	if err != nil {
		return r.done(err)
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		r.result(t.Service.Name)
		wg.Go(func() { p.Deployment(t).rollback(ctx, r, opts.To, reason) })
	}
	wg.Wait()
	return r.done(r.err())
}

// rollbackService is the service a rollback is of: the named one; else
// the one whose image To names; else, when To names a commit, the only
// service there is; else all ("").
func rollbackService(s config.Settings, named, to string) (string, error) {
	to = strings.TrimSpace(to)
	switch {
	case named != "":
		return named, nil
	case to == "":
		return "", nil
	case len(s.Services) == 1:
		// The one service's history says what to names.
		return s.Services[0].Name, nil
	case hexPrefix.MatchString(to):
		return "", fmt.Errorf("-to=%s names a commit, and each service has its own: name the service too (-service=<name>; the services are %s)", to, service.Names(s.Services))
	}
	ref, err := name.ParseReference(to)
	if err != nil || !strings.Contains(to, "/") {
		return "", fmt.Errorf("-to=%q is neither a commit nor an image reference: give a source commit a manifest deployed (7 to 40 hex characters), or an image with its registry, such as %s:<tag>@sha256:<digest>", to, s.ImageRepo("<service>"))
	}
	repo := ref.Context().RepositoryStr()
	last := repo[strings.LastIndexByte(repo, '/')+1:]
	if _, err := service.Find(s.Services, last); err != nil {
		return "", fmt.Errorf("image %s is of no service (its repository ends in %q): name the service (-service=<name>): %w", to, last, err)
	}
	return last, nil
}

// rollback rolls the target back to to.
func (d *Deployment) rollback(ctx context.Context, r *run, to, reason string) {
	svc := d.t.Service.Name
	var target, cur bump.Revision
	if err := r.stage(svc, "pick", func() (string, error) {
		var err error
		target, cur, err = d.pick(ctx, to)
		if err != nil {
			return "", err
		}
		// A tag (named, or in the history) is written as the digest it
		// names now, as every write is: promote ships only digests.
		if target.Image, err = d.p.Pin(ctx, target.Image); err != nil {
			return "", err
		}
		if err := d.p.CheckImage(ctx, target.Image); err != nil {
			return "", err
		}
		from := short(cur.SourceCommit)
		if from == "" {
			from = cur.Image // the seed's image records no source commit
		}
		detail := fmt.Sprintf("back to %s (%s), from %s", short(target.SourceCommit), target.Image, from)
		if target.Commit != "" {
			detail += fmt.Sprintf("; deployed before by gitops %s on %s", short(target.Commit), target.Time.Format(time.DateOnly))
		}
		return detail, nil
	}); err != nil {
		r.fail(svc, "", err)
		return
	}
	opts := d.gitopsOptions()
	opts.Image, opts.SourceCommit = target.Image, target.SourceCommit
	opts.Action, opts.Reason = "roll back to", reason
	// The version it goes back to passed its soak here once: that verdict
	// comes back with it, so that it can be promoted again.
	if v := d.passedBefore(ctx, target.Image); v != nil {
		opts.Annotations = v.annotations()
	}
	opts.Force, opts.DryRun = true, d.p.s.BumpDryRun
	d.release(ctx, r, opts, nil)
}

// passedBefore returns the passed soak the manifest's history records on
// image, nil when none of its last RollbackDepth revisions does.
func (d *Deployment) passedBefore(ctx context.Context, image string) *Verdict {
	revs, err := d.History(ctx, RollbackDepth)
	if err != nil {
		return nil
	}
	for _, r := range revs {
		if v := ReadVerdicts(r.Annotations).Passed; v != nil && v.Image == image {
			return v
		}
	}
	return nil
}

var hexPrefix = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)

// pick finds what a rollback goes to in the manifest's history, and what
// the manifest deploys now.
func (d *Deployment) pick(ctx context.Context, to string) (target, current bump.Revision, err error) {
	path := d.t.Path
	revs, err := d.History(ctx, RollbackDepth)
	if err != nil {
		return target, current, err
	}
	if len(revs) == 0 {
		return target, current, fmt.Errorf("%s has no history on %s: nothing to roll back", path, d.t.Branch)
	}
	current = revs[0]
	if current.Problem != nil {
		// Nothing can be written over a file the bump cannot read.
		return target, current, d.manifestError(current)
	}
	to = strings.TrimSpace(to)
	switch {
	case to == "":
		for _, r := range revs[1:] {
			if r.Image != "" && r.Image != current.Image && r.SourceCommit != "" {
				return r, current, nil
			}
		}
		return target, current, fmt.Errorf("the last %d revisions of %s deploy no other image than %s: nothing to roll back to; name one with -to=<commit|image>", len(revs), path, current.Image)
	case hexPrefix.MatchString(to):
		to = strings.ToLower(to)
		var found []bump.Revision
		for _, r := range revs {
			if strings.HasPrefix(r.SourceCommit, to) && (len(found) == 0 || found[0].SourceCommit != r.SourceCommit) {
				found = append(found, r)
			}
		}
		switch len(found) {
		case 1:
			return found[0], current, nil
		case 0:
			return target, current, fmt.Errorf("commit %s is not among the commits %s deployed in its last %d revisions: name its image instead (-to=repo@sha256:...)", to, path, len(revs))
		}
		return target, current, fmt.Errorf("commit %s is ambiguous in the history of %s (%s, %s): give more of the sha", to, path, found[0].SourceCommit, found[1].SourceCommit)
	}
	// An image is named with its repository (a registry and a path), as
	// mage publish prints it: a bare word is no image of this pipeline.
	ref, err := name.ParseReference(to)
	if err != nil || !strings.Contains(to, "/") {
		return target, current, fmt.Errorf("-to=%q is neither a commit in the history of %s nor an image reference: give a source commit it deployed (7 to 40 hex characters) or an image with its registry, such as %s:<tag>@sha256:<digest>",
			to, path, d.p.s.ImageRepo(d.t.Service.Name))
	}
	for _, r := range revs {
		if r.Image == to || sameDigest(r.Image, ref) {
			return r, current, nil
		}
	}
	// An image the manifest never deployed: its annotation says which
	// commit it was built from, which verify waits for.
	commit, err := d.p.ImageRevision(ctx, to)
	if err != nil {
		return target, current, err
	}
	if commit == "" {
		return target, current, fmt.Errorf("image %s is not in the history of %s and has no org.opencontainers.image.revision annotation: cannot tell which commit it runs; roll back to an image mage publish built", to, path)
	}
	return bump.Revision{Image: to, SourceCommit: commit}, current, nil
}

// sameDigest reports whether image and ref pin the same digest.
func sameDigest(image string, ref name.Reference) bool {
	d, ok := ref.(name.Digest)
	if !ok {
		return false
	}
	_, digest, found := strings.Cut(image, "@")
	return found && digest == d.DigestStr()
}
