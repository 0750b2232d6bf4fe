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

// Test runs gofmt, go vet, staticcheck and the race tests of every module, rerunning only the tests whose inputs changed.
func Test(ctx context.Context) error { return targets.Test(ctx, here()) }

// New writes a new service on the service kit, its manifests, Argo CD Applications and Homer tile: mage new <name>.
func New(ctx context.Context, name string) error { return targets.New(ctx, here(), name) }

// Build compiles each service (or -service=<name>) into bin/<service>, stamped with the commit that last changed it.
func Build(ctx context.Context, service *string) error { return targets.Build(ctx, here(), service) }

// Run builds a service (-service=<name> when there are several) and runs it on $PORT (default 8080) until Ctrl-C.
func Run(ctx context.Context, service *string) error { return targets.Run(ctx, here(), service) }

// Publish builds each service's image (or -service=<name>'s) with ko and pushes it to $KO_DOCKER_REPO/<service>.
func Publish(ctx context.Context, service *string) error {
	return targets.Publish(ctx, here(), service)
}

// Bump points the manifest of an image's service in the first environment at it: mage bump <repo/service:tag@sha256:...>.
func Bump(ctx context.Context, image string, service *string) error {
	return targets.Bump(ctx, here(), image, service)
}

// Verify polls each service's /version in the first environment until the commit that last changed it answers.
func Verify(ctx context.Context, service *string) error { return targets.Verify(ctx, here(), service) }

// Local serves every service in every environment on its local rollout, each on its own port, until Ctrl-C.
func Local(ctx context.Context) error { return targets.Local(ctx, here()) }

// Status shows a service × environment table: what git deploys, what answers live, the registry and Argo CD; it fails on drift.
func Status(ctx context.Context, json *bool, service *string) error {
	return targets.Status(ctx, here(), json, service)
}

// Promote takes the images the previous environment runs, verified and soaked there, to an environment: mage promote production (-unsoaked=<reason> takes one without a passed soak).
func Promote(ctx context.Context, environment string, service, unsoaked *string) error {
	return targets.Promote(ctx, here(), environment, service, unsoaked)
}

// Rollback points every service (or -service=) of an environment (default: the first) back at its previous image, or -to=<commit|image>.
func Rollback(ctx context.Context, env, service, to, reason *string) error {
	return targets.Rollback(ctx, here(), targets.RollbackArgs{Env: env, Service: service, To: to, Reason: reason})
}

// Doctor checks settings, credentials and services in seconds, and prints each problem with its fix.
func Doctor(ctx context.Context) error { return targets.Doctor(ctx, here()) }

// CI is the job for every push: the gate, and on the deploy branch the services the commit changes built, bumped, rolled out, verified.
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
