package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// stopReason says why nothing after a bump can make its commit live, or ""
// when the run goes on.
func stopReason(res bump.Result) string {
	switch res.Outcome {
	case bump.NewerDeployed:
		return "a newer commit (" + short(res.PreviousCommit) + ") is deployed"
	case bump.DryRun:
		return "BUMP_DRY_RUN=1: nothing was written"
	case bump.Proposed:
		if res.PRURL == "" {
			return "BUMP_MODE=pr: branch " + res.Branch + " waits for a pull request on the host; verify after its merge (go tool mage verify)"
		}
		return fmt.Sprintf("pull request #%d waits for its merge (%s); verify after it (go tool mage verify), or set BUMP_MERGE=1", res.PR, res.PRURL)
	}
	return ""
}

// Bump points the gitops manifest at image, built from info's commit.
func (p *Pipeline) Bump(ctx context.Context, image string, info buildinfo.Info) (bump.Result, error) {
	if err := p.InitGitops(ctx); err != nil {
		return bump.Result{}, err
	}
	s := p.s
	res, err := bump.Image(ctx, bump.Options{
		Repo: s.GitopsTarget(), Path: s.GitopsPath, Branch: s.GitopsBranch, Container: s.GitopsContainer,
		Token: s.GitopsToken, APIURL: s.GitHubAPIURL,
		Image: image, SourceCommit: info.Commit,
		Ancestry: bump.GitAncestry{Dir: s.Root},
		Force:    s.BumpForce, DryRun: s.BumpDryRun,
		App: s.GitopsApp, Mode: s.BumpMode, Merge: s.BumpMerge, MergeTimeout: s.BumpMergeTimeout,
		Message: s.BumpMessage, Author: s.BumpAuthor, SourceURL: s.SourceURL, By: p.by(),
		// A gitops manifest in this very repository must not start the
		// pipeline again with its own bump.
		SkipCI: !s.LocalGitops() && s.GitopsRepo == s.SourceRepo,
		Logger: p.log,
	})
	return res, err
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
	ref, err := name.ParseReference(image)
	if err != nil {
		return fmt.Errorf("image %q: %w; want repo:tag@sha256:..., as mage publish prints it", image, err)
	}
	if p.s.LocalRegistry() && ref.Context().RegistryStr() == p.s.RegistryAddr {
		if _, err := p.registry(ctx); err != nil {
			return err
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
	_, err = remote.Head(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(publish.Transport(nil)))
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return fmt.Errorf("image %s is not in its registry: publish it first (go tool mage publish prints the ref to bump)", image)
		}
		return fmt.Errorf("check image %s in %s: %w", image, ref.Context().RegistryStr(), redactTransport(err))
	}
	return nil
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
