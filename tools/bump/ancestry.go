package bump

import (
	"context"
	"errors"
	"fmt"

	"github.com/andrelair-platform/platform-demo/tools/internal/git"
)

// GitAncestry orders commits with the git history of a local clone of the
// source repository.
type GitAncestry struct {
	// Dir is a directory inside the clone.
	Dir string
}

// IsAncestor runs `git merge-base --is-ancestor`.
func (g GitAncestry) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	_, err := git.Cmd{Dir: g.Dir}.Run(ctx, "merge-base", "--is-ancestor", ancestor, descendant)
	var gerr *git.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &gerr) && gerr.ExitCode == 1:
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, fmt.Errorf("%w (is the history complete? a shallow clone lacks old commits: fetch with full depth, e.g. actions/checkout fetch-depth: 0)", err)
}
