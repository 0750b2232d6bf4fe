package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/publish"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// stopReason says why nothing after a bump can make its commit live, or ""
// when the run goes on. action is the bump's (Options.Action).
func (p *Pipeline) stopReason(res bump.Result, action string) string {
	switch res.Outcome {
	case bump.NewerDeployed:
		return "a newer commit (" + short(res.PreviousCommit) + ") is deployed"
	case bump.DryRun:
		return "BUMP_DRY_RUN=1: nothing was written"
	case bump.Proposed:
		if res.PRURL == "" {
			return "BUMP_MODE=pr: branch " + res.Branch + " waits for a pull request on the host; after its merge, " + p.checkMerged(action)
		}
		return fmt.Sprintf("pull request #%d waits for its merge (%s); after it, %s; or set BUMP_MERGE=1", res.PR, res.PRURL, p.checkMerged(action))
	}
	return ""
}

// checkMerged says which command proves a bump live once its pull request
// is merged: `go tool mage verify` waits for HEAD on the first
// environment, which is what `mage ci` deploys there; any other bump
// (a promotion, a rollback, another environment) shows in `go tool mage
// status`, in sync once the environment answers what git deploys.
func (p *Pipeline) checkMerged(action string) string {
	if p.s.FirstEnvironment() && (action == "" || action == "deploy") {
		return "go tool mage verify proves it live"
	}
	return "go tool mage status shows whether " + p.s.Environment + " answers it (in sync)"
}

// mergedAdvice names, in an error of the bump's pull-request code, the
// command that proves this bump live once merged: that code names `go
// tool mage verify` for every bump, which checks HEAD on the first
// environment only.
func (p *Pipeline) mergedAdvice(err error, action string) error {
	const generic = "verify after (go tool mage verify)"
	if !strings.Contains(err.Error(), generic) || p.checkMerged(action) == "go tool mage verify proves it live" {
		return err
	}
	return &advisedError{msg: strings.Replace(err.Error(), generic, "then "+p.checkMerged(action), 1), err: err}
}

// advisedError is err with the advice of its message replaced by the
// edge's, which knows the environment.
type advisedError struct {
	msg string
	err error
}

func (e *advisedError) Error() string { return e.msg }
func (e *advisedError) Unwrap() error { return e.err }

// Bump points the gitops manifest at image, built from info's commit.
func (p *Pipeline) Bump(ctx context.Context, image string, info buildinfo.Info) (bump.Result, error) {
	return p.change(ctx, p.deployOptions(image, info))
}

// deployOptions are those of the bump that deploys image, built from
// info's commit (BUMP_FORCE and BUMP_DRY_RUN apply).
func (p *Pipeline) deployOptions(image string, info buildinfo.Info) bump.Options {
	opts := p.gitopsOptions()
	opts.Image, opts.SourceCommit = image, info.Commit
	opts.Force, opts.DryRun = p.s.BumpForce, p.s.BumpDryRun
	return opts
}

// change makes the bump opts describe, on the environment's manifest.
func (p *Pipeline) change(ctx context.Context, opts bump.Options) (bump.Result, error) {
	if err := p.InitGitops(ctx); err != nil {
		return bump.Result{}, err
	}
	res, err := bump.Image(ctx, opts)
	if unreadable(err) {
		err = fmt.Errorf("%w: %s", err, p.manifestFix(err, ""))
	}
	return res, err
}

// unreadable reports whether err says that a manifest cannot be read.
func unreadable(err error) bool {
	for _, e := range []error{manifest.ErrNotYAML, manifest.ErrNoWorkload, manifest.ErrContainerNotFound, manifest.ErrAmbiguous} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// manifestError says that the environment's manifest cannot be read at
// rev, why (with the line, when the file is not YAML), and what fixes it.
func (p *Pipeline) manifestError(rev bump.Revision) error {
	return fmt.Errorf("%s's manifest %s cannot be read at gitops %s: %w: %s",
		p.s.Environment, p.s.GitopsPath, short(rev.Commit), rev.Problem, p.manifestFix(rev.Problem, rev.Commit))
}

// manifestFix names what makes a manifest the pipeline cannot read
// readable again; commit, when known, is the gitops commit it was read at.
func (p *Pipeline) manifestFix(err error, commit string) string {
	if errors.Is(err, manifest.ErrContainerNotFound) || errors.Is(err, manifest.ErrAmbiguous) {
		fix := "set " + p.s.VarFor("GITOPS_CONTAINER")
		if p.s.Environment != config.DefaultEnvironment {
			fix += " (or container of " + p.s.Environment + " in " + config.EnvironmentsFile + ")"
		}
		return fix + " to the container to bump, or name the container as before"
	}
	fix := "fix the file in the gitops repository"
	if commit != "" {
		fix += ", or revert the commit that broke it (git revert " + short(commit) + ")"
	}
	return fix
}

// verifyDeployed waits until commit is live, as Verify does, and stops
// when the environment's manifest no longer deploys it: another bump or
// rollback replaced it (or won the race to it), and nothing will make
// commit live here. It asks git every ten polls, at least a second apart
// on this machine and five seconds apart on a remote (each question costs
// the API two requests), at most 30s: a verify that succeeds at once asks
// nothing.
func (p *Pipeline) verifyDeployed(ctx context.Context, commit string) (verify.Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	floor := 5 * time.Second
	if p.s.LocalGitops() {
		floor = time.Second
	}
	every := min(max(10*p.s.VerifyInterval, floor), 30*time.Second)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := p.stillDeploys(ctx, commit); err != nil {
				cancel(err)
				return
			}
		}
	}()
	res, err := p.Verify(ctx, commit)
	cancel(nil)
	<-watched
	var replaced *ReplacedError
	if cause := context.Cause(ctx); err != nil && errors.As(cause, &replaced) {
		return res, replaced
	}
	return res, err
}

// ReplacedError says that git no longer deploys the commit a run waits for.
type ReplacedError struct {
	Environment, Path string
	// Wanted is the commit waited for; Now the revision that replaced it.
	Wanted string
	Now    bump.Revision
}

func (e *ReplacedError) Error() string {
	now := short(e.Now.SourceCommit)
	if now == "" {
		now = e.Now.Image
	}
	return fmt.Sprintf("%s's manifest no longer deploys %s: it deploys %s since gitops %s (%s); another bump or rollback replaced it, so nothing will make %s live there (go tool mage status shows what runs)",
		e.Environment, short(e.Wanted), now, short(e.Now.Commit), e.Now.Time.Format(time.RFC3339), short(e.Wanted))
}

// stillDeploys returns a *ReplacedError when the environment's manifest
// deploys another commit than commit, and nil otherwise, also when git
// cannot be asked now: verify goes on, and its own timeout still bounds it.
func (p *Pipeline) stillDeploys(ctx context.Context, commit string) error {
	revs, err := p.History(ctx, 1)
	if err != nil || len(revs) == 0 || revs[0].SourceCommit == commit {
		return nil
	}
	return &ReplacedError{Environment: p.s.Environment, Path: p.s.GitopsPath, Wanted: commit, Now: revs[0]}
}

// History returns the last limit revisions of the environment's manifest,
// newest first.
func (p *Pipeline) History(ctx context.Context, limit int) ([]bump.Revision, error) {
	if err := p.InitGitops(ctx); err != nil {
		return nil, err
	}
	return bump.History(ctx, p.gitopsOptions(), limit)
}

// gitopsOptions say where the environment's manifest is and how to write
// it; the caller adds what to write.
func (p *Pipeline) gitopsOptions() bump.Options {
	s := p.s
	env := s.Environment
	if env == config.DefaultEnvironment {
		env = ""
	}
	return bump.Options{
		Repo: s.GitopsTarget(), Path: s.GitopsPath, Branch: s.GitopsBranch, Container: s.GitopsContainer,
		Token: s.GitopsToken, APIURL: s.GitHubAPIURL, App: s.GitopsApp,
		Ancestry: bump.GitAncestry{Dir: s.Root},
		Mode:     s.BumpMode, Merge: s.BumpMerge, MergeTimeout: s.BumpMergeTimeout,
		Message: s.BumpMessage, Author: s.BumpAuthor, SourceURL: s.SourceURL, By: p.by(),
		Environment: env,
		// A gitops manifest in this very repository must not start the
		// pipeline again with its own bump.
		SkipCI: !s.LocalGitops() && s.GitopsRepo == s.SourceRepo,
		Logger: p.log,
	}
}

// by says who makes a bump, for its pull request.
func (p *Pipeline) by() string {
	if p.s.RunURL != "" {
		return "GitHub Actions run " + p.s.RunURL
	}
	host, _ := os.Hostname()
	return "`go tool mage` on " + host
}

// CheckImage makes sure image exists in its registry, so that a bump by hand
// cannot deploy a reference nothing can pull. In the local loop it starts
// (or attaches to) the embedded registry to ask it.
func (p *Pipeline) CheckImage(ctx context.Context, image string) error {
	ref, opts, err := p.remote(ctx, image)
	if err != nil {
		return err
	}
	_, err = remote.Head(ref, opts...)
	return imageError(ref, err)
}

// Pin returns image pinned by digest, as every write of the gitops
// repository deploys it: as it is when it names a digest, else with its
// tag resolved in its registry (repo:tag@sha256:...), so that what was
// checked is what runs, however the tag moves later.
func (p *Pipeline) Pin(ctx context.Context, image string) (string, error) {
	if ref, err := name.ParseReference(image); err == nil {
		if _, digest := ref.(name.Digest); digest {
			return image, nil
		}
	}
	ref, opts, err := p.remote(ctx, image)
	if err != nil {
		return "", fmt.Errorf("pin %s to a digest: %w; or give the image by digest (repo@sha256:...)", image, err)
	}
	tag := ref.(name.Tag)
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("pin %s to a digest: %w", image, imageError(ref, err))
	}
	return tag.Context().Name() + ":" + tag.TagStr() + "@" + desc.Digest.String(), nil
}

// ImageRevision is the source commit image was built from, as its
// org.opencontainers.image.revision annotation says; "" when it has none.
func (p *Pipeline) ImageRevision(ctx context.Context, image string) (string, error) {
	ref, opts, err := p.remote(ctx, image)
	if err != nil {
		return "", err
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return "", imageError(ref, err)
	}
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return "", fmt.Errorf("read the manifest of %s: %w", image, err)
	}
	return strings.ToLower(m.Annotations[publish.AnnotationRevision]), nil
}

// remote parses image and returns the options that reach its registry
// with the credentials that belong to it.
func (p *Pipeline) remote(ctx context.Context, image string) (name.Reference, []remote.Option, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, nil, fmt.Errorf("image %q: %w; want repo:tag@sha256:..., as mage publish prints it", image, err)
	}
	if p.s.LocalRegistry() {
		// The local loop talks to its own registry only: the seed
		// manifests name public images this machine need not reach.
		if !loopback.Host(ref.Context().RegistryStr()) {
			return nil, nil, &RemoteRegistryError{Image: image}
		}
		if ref.Context().RegistryStr() == p.s.RegistryAddr {
			if _, err := p.registry(ctx); err != nil {
				return nil, nil, err
			}
		}
	}
	// REGISTRY_USERNAME and REGISTRY_PASSWORD belong to the registry images
	// are pushed to: a reference typed by hand that names another registry
	// gets the Docker config's login for that one, as publish would.
	configured := ""
	if repo, err := name.NewRepository(p.s.ImageRepo()); err == nil {
		configured = repo.RegistryStr()
	}
	kc := publish.Keychain(configured, p.s.RegistryUsername, p.s.RegistryPassword, authn.DefaultKeychain)
	return ref, []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(publish.Transport(nil))}, nil
}

// ErrImageMissing means the registry answered that it does not hold the
// image.
var ErrImageMissing = errors.New("is not in its registry")

// RemoteRegistryError refuses, in the local loop, an image on a registry
// other than one on this machine.
type RemoteRegistryError struct{ Image string }

func (e *RemoteRegistryError) Error() string {
	return fmt.Sprintf("image %s is not on this machine: the local loop uses its own registry only; set KO_DOCKER_REPO to work with a remote one", e.Image)
}

// imageError explains a registry's answer about ref.
func imageError(ref name.Reference, err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("image %s %w: publish it first (go tool mage publish prints the ref to bump)", ref, ErrImageMissing)
	}
	return fmt.Errorf("check image %s in %s: %w", ref, ref.Context().RegistryStr(), redactTransport(err))
}

// redactTransport keeps only the status of a registry error: its full text
// can quote request URLs, which is not where a secret belongs, but is long.
func redactTransport(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		return fmt.Errorf("registry answered %d %s", te.StatusCode, http.StatusText(te.StatusCode))
	}
	return err
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
