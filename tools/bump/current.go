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
	b, opts, err := open(ctx, opts, forge.Permissions{Contents: "read"})
	if err != nil {
		return manifest.Current{}, err
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
