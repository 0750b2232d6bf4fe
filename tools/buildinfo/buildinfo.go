// Package buildinfo derives the version and commit that every build of the
// service is stamped with, so that `mage build`, `mage publish` and the live
// /version endpoint agree on one identity for a commit.
package buildinfo

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/andrelair-platform/platform-demo/services/kit/contract"
	"github.com/andrelair-platform/platform-demo/tools/internal/git"
)

// Symbol paths of a service without the kit, which declares its own
// variables in package main for link-time stamping.
const (
	MainVersionSymbol = "main.version"
	MainCommitSymbol  = "main.commit"
)

// Options says where to read build metadata from.
type Options struct {
	// Dir is a directory inside the git work tree of the source repository.
	Dir string
	// GitHubSHA is the commit GitHub Actions is building (GITHUB_SHA). When
	// set it wins over HEAD, because Actions may check out a merge ref.
	GitHubSHA string
}

// Info is the identity of one build.
type Info struct {
	// Commit is the full 40-character commit sha.
	Commit string
	// Version is the short sha (7 characters), with "-dirty" appended when the
	// work tree has uncommitted changes.
	Version string
	// Dirty reports uncommitted changes to tracked files in the work tree.
	Dirty bool
	// Time is the commit time; images use it as their creation time so the
	// same commit always yields the same digest.
	Time time.Time
}

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Read returns the build identity of the work tree at opts.Dir.
func Read(ctx context.Context, opts Options) (Info, error) {
	commit := strings.TrimSpace(opts.GitHubSHA)
	if commit == "" {
		out, err := run(ctx, opts.Dir, "rev-parse", "HEAD")
		if err != nil {
			return Info{}, fmt.Errorf("read HEAD commit: %w (is %s a git work tree with at least one commit?)", err, dirName(opts.Dir))
		}
		commit = out
	}
	if !shaPattern.MatchString(commit) {
		return Info{}, fmt.Errorf("commit %q is not a full 40-character sha: set GITHUB_SHA to a full sha or unset it", commit)
	}
	info := Info{Commit: commit, Version: commit[:7]}

	// The commit time may be missing for GITHUB_SHA in a shallow clone; that
	// is not fatal, it only costs reproducibility of the creation time.
	if out, err := run(ctx, opts.Dir, "show", "-s", "--format=%ct", commit); err == nil {
		if secs, err := strconv.ParseInt(out, 10, 64); err == nil {
			info.Time = time.Unix(secs, 0).UTC()
		}
	}
	status, err := run(ctx, opts.Dir, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return Info{}, fmt.Errorf("read work tree status: %w", err)
	}
	if status != "" {
		info.Dirty = true
		info.Version += "-dirty"
	}
	return info, nil
}

// LDFlags returns the linker flags that stamp version and commit into a
// service binary: the kit's symbols (contract.VersionSymbol, contract.CommitSymbol),
// and those of package main for a service without the kit; the linker
// ignores the pair a binary does not have. Every build path (go build, ko)
// uses this one string.
func LDFlags(version, commit string) string {
	return fmt.Sprintf("-s -w -X %s=%s -X %s=%s -X %s=%s -X %s=%s",
		contract.VersionSymbol, version, contract.CommitSymbol, commit, MainVersionSymbol, version, MainCommitSymbol, commit)
}

// run runs git on the source repository, as the user would.
func run(ctx context.Context, dir string, args ...string) (string, error) {
	return git.Cmd{Dir: dir}.Run(ctx, args...)
}

func dirName(dir string) string {
	if dir == "" {
		return "the current directory"
	}
	return dir
}
