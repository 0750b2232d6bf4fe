package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// registry checks that images can be pushed where KO_DOCKER_REPO says, or
// that the embedded registry can serve in local mode.
func (d *doctor) registry(ctx context.Context) []Row {
	if d.s.LocalRegistry() {
		return []Row{d.localRegistry(ctx)}
	}
	if len(d.s.Services) == 0 {
		return []Row{{Check: CheckRegistry, Status: Warn, Found: "no services, so no image repository to check"}}
	}
	rows := make([]Row, len(d.s.Services))
	var wg sync.WaitGroup
	for i, svc := range d.s.Services {
		wg.Go(func() {
			rows[i] = d.repository(ctx, d.s.ImageRepo(svc.Name))
			if len(d.s.Services) > 1 {
				rows[i].Found = svc.Name + ": " + rows[i].Found
			}
		})
	}
	wg.Wait()
	return rows
}

// repository checks that images can be pushed to one service's repository.
func (d *doctor) repository(ctx context.Context, image string) Row {
	row := Row{Check: CheckRegistry}
	repo, err := name.NewRepository(image)
	if err != nil {
		row.Status = Fail
		row.Found = fmt.Sprintf("%q is not a repository: %v", image, err)
		row.Fix = "set KO_DOCKER_REPO to a registry and path such as ghcr.io/andrelair-platform (lowercase): each service pushes to <KO_DOCKER_REPO>/<service>"
		return row
	}
	ghcr := repo.RegistryStr() == "ghcr.io"

	var kc authn.Keychain
	var creds string
	switch {
	case d.s.RegistryUsername != "" && d.s.RegistryPassword == "":
		row.Status = Fail
		row.Found = fmt.Sprintf("REGISTRY_USERNAME %q is set but REGISTRY_PASSWORD is empty", d.s.RegistryUsername)
		row.Fix = "set REGISTRY_PASSWORD (in Actions: the job's GITHUB_TOKEN)"
		return row
	case d.s.RegistryUsername == "" && d.s.RegistryPassword != "":
		row.Status = Fail
		row.Found = "REGISTRY_PASSWORD " + secret.Mask(d.s.RegistryPassword) + " is set but REGISTRY_USERNAME is empty, so it would not be used"
		row.Fix = "set REGISTRY_USERNAME (in Actions: github.actor)"
		return row
	case d.s.RegistryUsername != "":
		// No fallback: the check is of these credentials alone.
		kc = publish.Keychain(repo.RegistryStr(), d.s.RegistryUsername, d.s.RegistryPassword, nil)
		creds = fmt.Sprintf("as %s, password %s", d.s.RegistryUsername, secret.Mask(d.s.RegistryPassword))
	default:
		kc = d.opts.Keychain
		auth, err := kc.Resolve(repo)
		if err != nil {
			row.Status = Fail
			row.Found = fmt.Sprintf("cannot read the Docker credentials for %s: %s", repo.RegistryStr(), err.Error())
			row.Fix = "fix the Docker config (~/.docker/config.json), or set REGISTRY_USERNAME and REGISTRY_PASSWORD"
			return row
		}
		creds = "with the Docker config's login"
		if auth == authn.Anonymous {
			creds = "without credentials"
		}
	}

	base := d.opts.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// CheckPushPermission takes no context; the transport carries the
	// check's deadline to each request instead.
	tr := contextTransport{ctx: ctx, next: publish.Transport(base)}
	err = remote.CheckPushPermission(repo.Tag("latest"), kc, tr)
	if err == nil {
		row.Found = fmt.Sprintf("push allowed to %s %s", repo, creds)
		if ghcr {
			row.Fix = "the package is private in this organisation: the cluster pulls it with an imagePullSecret (docs/runbook.md, step 5)"
		}
		return row
	}
	// The words publish would use for the same answer.
	p := publish.Explain(err, repo.RegistryStr())
	row.Status = Fail
	row.Found = fmt.Sprintf("cannot push to %s %s: %s", repo, creds, p.Detail)
	if errors.Is(p.Cause, publish.ErrUnreachable) && errors.Is(err, context.DeadlineExceeded) {
		row.Found = fmt.Sprintf("cannot push to %s %s: no answer within %s", repo, creds, d.opts.Timeout)
	}
	row.Fix = p.Fix
	return row
}

// localRegistry checks that the embedded registry can serve on its address:
// the address is free, or already served by another process's embedded
// registry, which publish attaches to.
func (d *doctor) localRegistry(ctx context.Context) Row {
	row := Row{Check: CheckRegistry}
	addr := d.s.RegistryAddr
	if _, _, err := net.SplitHostPort(addr); err != nil || !loopback.Host(addr) {
		row.Status = Fail
		row.Found = fmt.Sprintf("local mode: LOCAL_REGISTRY_ADDR %q is not a loopback host:port", addr)
		row.Fix = "set LOCAL_REGISTRY_ADDR to an address such as " + registry.DefaultAddr
		return row
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err == nil {
		ln.Close()
		row.Found = fmt.Sprintf("local mode: %s is free; publish serves the embedded registry there", addr)
		return row
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		row.Status, row.Found = Fail, fmt.Sprintf("local mode: cannot listen on %s: %v", addr, err)
		row.Fix = "set LOCAL_REGISTRY_ADDR to a free loopback address, such as 127.0.0.1:5056"
		return row
	}
	if registry.Serving(ctx, addr) {
		row.Found = fmt.Sprintf("local mode: %s is served by the embedded registry of another process; publish uses it", addr)
		return row
	}
	row.Status = Fail
	row.Found = fmt.Sprintf("local mode: %s is in use by another program, not the embedded registry", addr)
	row.Fix = "stop that program, or set LOCAL_REGISTRY_ADDR to a free loopback address, such as 127.0.0.1:5056"
	return row
}

// contextTransport sends every request with ctx, for callers that take no
// context.
type contextTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(t.ctx))
}

// cause is the cause of a failed request, without the request itself.
func (d *doctor) cause(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", d.opts.Timeout)
	}
	return forge.Cause(err)
}
