//go:build mage

// The magefile is the pipeline's table of contents: each target hands the
// process's surroundings to the function of the same name in tools/targets,
// which does the work. `go tool mage -l` lists the targets.
package main

import (
	"context"
	"os"

	"github.com/andrelair-platform/platform-demo/tools/targets"
)

// Test runs gofmt, go vet and the race tests of every module, rerunning only the tests whose inputs changed.
func Test(ctx context.Context) error { return targets.Test(ctx, here()) }

// Build compiles the service into bin/platform-demo, stamped with the current commit.
func Build(ctx context.Context) error { return targets.Build(ctx, here()) }

// Run builds the service and runs it on $PORT (default 8080) until Ctrl-C.
func Run(ctx context.Context) error { return targets.Run(ctx, here()) }

// Publish builds the service image with ko and pushes it to $KO_DOCKER_REPO (default: the embedded registry).
func Publish(ctx context.Context) error { return targets.Publish(ctx, here()) }

// Bump points the gitops manifest at an image ref: mage bump <repo:tag@sha256:...>.
func Bump(ctx context.Context, image string) error { return targets.Bump(ctx, here(), image) }

// Verify polls $VERIFY_URL/version until this commit is live (the local rollout when VERIFY_URL is unset).
func Verify(ctx context.Context) error { return targets.Verify(ctx, here()) }

// Local serves each environment's gitops head on its local rollout (staging :8080, production :8081) until Ctrl-C.
func Local(ctx context.Context) error { return targets.Local(ctx, here()) }

// Status shows, per environment, what git deploys, whether the registry has it, what answers live and Argo CD's view; it fails on drift.
func Status(ctx context.Context, json *bool) error { return targets.Status(ctx, here(), json) }

// Promote takes the image the previous environment runs, verified there, to an environment: mage promote production.
func Promote(ctx context.Context, environment string) error {
	return targets.Promote(ctx, here(), environment)
}

// Rollback points an environment (default: the first) back at its previous image, or -to=<commit|image>, and verifies it.
func Rollback(ctx context.Context, env *string, to *string, reason *string) error {
	return targets.Rollback(ctx, here(), targets.RollbackArgs{Env: env, To: to, Reason: reason})
}

// Doctor checks settings, credentials and services in seconds, and prints each problem with its fix.
func Doctor(ctx context.Context) error { return targets.Doctor(ctx, here()) }

// CI is the job for every push: the gate, and on the deploy branch publish, bump, roll out and verify.
func CI(ctx context.Context) error { return targets.CI(ctx, here()) }

// Integration runs the integration tests: a real distribution registry with auth, the image under podman, and a real Gitea.
func Integration(ctx context.Context) error { return targets.Integration(ctx, here()) }

// Bench times `go tool mage ci` after a one-line change against its floor, and publish, bump, verify and the service.
func Bench(ctx context.Context) error { return targets.Bench(ctx, here()) }

// here is what the targets run with. Mage runs them from the magefile's
// directory, the repository root.
func here() targets.Env {
	root, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	home, _ := os.UserHomeDir()
	return targets.Env{
		Root: root, Lookup: os.LookupEnv, Environ: os.Environ(), Home: home,
		Stdout: os.Stdout, Stderr: os.Stderr,
	}
}
