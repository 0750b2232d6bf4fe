package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

const bumpGroup = "3 bump (GitHub Contents API, local server)"

// racers is the number of bumps of successive commits started at once.
const racers = 20

const (
	gitopsRepo = "andrelair-platform/minicloud-gitops"
	// Shaped like a classic PAT, as bump.TokenRule wants a real one.
	gitopsToken = "ghp_benchbenchbenchbenchbenchbenchbench"
)

// bump measures the API calls and the wall time of one bump on the happy
// path, and the time for racers concurrent bumps of successive commits to
// converge on the newest, against a local server of the Contents API.
func (b *bencher) bump(ctx context.Context) error {
	seed, err := os.ReadFile(filepath.Join(b.opts.Root, "gitops", bump.DefaultPath))
	if err != nil {
		return fmt.Errorf("read the gitops manifest the bump edits: %w", err)
	}
	// The source commits form one line of history, as successive pushes
	// to main do, so that every bump can tell older from newer.
	src := filepath.Join(b.tmp, "bump-source")
	chain, err := commitChain(ctx, src, racers+1)
	if err != nil {
		return err
	}

	var calls, wall, converge, raceCalls []float64
	for i := range b.opts.Runs {
		srv, closeSrv := startGitHub()
		srv.AddToken(gitopsToken, githubtest.Token{Login: "platform-demo-bot", Scopes: []string{"repo"}})
		srv.CreateRepo(gitopsRepo, bump.DefaultBranch, map[string]string{bump.DefaultPath: string(seed)})
		opts := func(commit string, n int) bump.Options {
			return bump.Options{
				Repo: gitopsRepo, Token: gitopsToken, APIURL: srv.URL,
				Image:        fmt.Sprintf("127.0.0.1:5055/platform-demo:%.7s@sha256:%064x", commit, n),
				SourceCommit: commit, Ancestry: bump.GitAncestry{Dir: src},
				HTTPClient: srv.Client(), Logger: b.opts.Logger,
			}
		}

		// Happy path: one bump of a newer commit, nobody else writing.
		srv.ResetCounts()
		start := time.Now()
		res, err := bump.Image(ctx, opts(chain[0], 0))
		d := time.Since(start)
		if err != nil {
			closeSrv()
			return fmt.Errorf("happy-path bump: %w", err)
		}
		if res.Outcome != bump.Committed {
			closeSrv()
			return fmt.Errorf("happy-path bump: outcome %s, want %s", res.Outcome, bump.Committed)
		}
		n := srv.Requests()
		calls, wall = append(calls, float64(n)), append(wall, seconds(d))

		// The race: commits 1..racers bumped at once, in arbitrary order.
		srv.ResetCounts()
		var wg sync.WaitGroup
		errs := make([]error, racers)
		gate := make(chan struct{})
		for r := range racers {
			wg.Go(func() {
				<-gate
				_, errs[r] = bump.Image(ctx, opts(chain[1+r], 1+r))
			})
		}
		start = time.Now()
		close(gate)
		wg.Wait()
		conv := time.Since(start)
		raceN := srv.Requests()
		failed := 0
		for _, e := range errs {
			if e != nil {
				failed++
			}
		}
		file, _ := srv.File(gitopsRepo, bump.DefaultBranch, bump.DefaultPath)
		closeSrv()
		newest := chain[racers]
		cur, err := manifest.Read(file, bump.DefaultContainer)
		if err != nil {
			return fmt.Errorf("read the manifest after the race: %w", err)
		}
		if failed > 0 || cur.SourceCommit != newest {
			b.note("bump race run %d: %d of %d bumps failed, manifest at %.7s, newest %.7s: %v", i+1, failed, racers, cur.SourceCommit, newest, firstErr(errs))
		}
		converge, raceCalls = append(converge, seconds(conv)), append(raceCalls, float64(raceN))
		b.progress(Bump, i, "happy path %d calls in %s; race of %d converged in %s with %d calls, %d failed",
			n, d.Round(time.Millisecond), racers, conv.Round(time.Millisecond), raceN, failed)
	}
	b.add(
		newMeasure(bumpGroup, "API calls, happy path", UnitCount, calls, nil, &Goal{Limit: 2, Worst: true}),
		newMeasure(bumpGroup, "wall time, happy path", UnitSeconds, wall, nil, nil),
		newMeasure(bumpGroup, fmt.Sprintf("%d-way race: time to converge on the newest", racers), UnitSeconds, converge, nil, nil),
		newMeasure(bumpGroup, fmt.Sprintf("%d-way race: API calls", racers), UnitCount, raceCalls, nil, nil),
	)
	return nil
}

// commitChain makes a repository in dir with n commits in one line and
// returns their shas, oldest first.
func commitChain(ctx context.Context, dir string, n int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := runGit(ctx, dir, "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	var shas []string
	for i := range n {
		if _, err := runGit(ctx, dir, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("change %d", i)); err != nil {
			return nil, err
		}
		out, err := runGit(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return nil, err
		}
		shas = append(shas, strings.TrimSpace(out))
	}
	return shas, nil
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// startGitHub starts githubtest's server; the returned function stops it.
func startGitHub() (*githubtest.Server, func()) {
	gh := githubtest.New()
	return gh, gh.Close
}
