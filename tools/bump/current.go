package bump

import (
	"context"
	"fmt"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// Current reads what the manifest deploys now, with one read of the file:
// what a deploy compares a service's build with before it builds.
func Current(ctx context.Context, opts Options) (manifest.Current, error) {
	opts = opts.withDefaults()
	if opts.Repo == "" {
		return manifest.Current{}, fmt.Errorf("current: no gitops repository: set GITOPS_REPO")
	}
	var b backend
	var err error
	if IsGitHubRepo(opts.Repo) {
		if opts.App != nil {
			tok, err := opts.App.InstallationToken(ctx, opts.APIURL, opts.Repo, forge.Permissions{Contents: "read"}, opts.HTTPClient)
			if err != nil {
				return manifest.Current{}, err
			}
			opts.Token = tok.Value
		}
		b, err = newGitHub(opts)
	} else {
		b, err = newGit(opts)
	}
	if err != nil {
		return manifest.Current{}, redactErr(err, opts.Token)
	}
	defer b.close()
	content, _, err := b.read(ctx)
	if err != nil {
		return manifest.Current{}, redactErr(err, opts.Token)
	}
	cur, err := manifest.Read(content, opts.Container)
	if err != nil {
		return manifest.Current{}, fmt.Errorf("read %s: %w", opts.Path, err)
	}
	return cur, nil
}
