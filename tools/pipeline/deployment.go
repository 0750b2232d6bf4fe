package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/andrelair-platform/platform-demo/tools/argocd"
	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
	"github.com/andrelair-platform/platform-demo/tools/local/podman"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/publish"
	"github.com/andrelair-platform/platform-demo/tools/stamp"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// Deployment is one target, a service in an environment: its stages and,
// in the local loop, its rollout.
type Deployment struct {
	p   *Pipeline
	t   config.Target
	log *slog.Logger

	ro  *rollout.Rollout
	pod *podman.Pod // LOCAL_RUNTIME=podman
	// roURL is the address of a rollout another process serves (`mage
	// local`), when this one attached to it instead of starting its own.
	roURL string
	// rollMu makes reading the gitops head and applying it one step, so
	// that two rollouts of the target (the follower of `mage local`, a
	// run's own) apply heads in the order they read them: never an older
	// manifest over a newer one.
	rollMu sync.Mutex
}

func (d *Deployment) close(ctx context.Context) error {
	var errs []error
	if d.pod != nil {
		errs = append(errs, d.pod.Down(ctx))
		d.pod = nil
	}
	if d.ro != nil {
		errs = append(errs, d.ro.Close(ctx))
		d.ro = nil
	}
	return errors.Join(errs...)
}

// Build builds the service's image of its stamp without pushing it; Push
// on the result pushes it.
func (d *Deployment) Build(ctx context.Context, st stamp.Stamp) (*publish.Built, error) {
	s := d.p.s
	repo, base := s.ImageRepo(d.t.Service.Name), s.Base
	if s.LocalRegistry() {
		reg, err := d.p.registry(ctx)
		if err != nil {
			return nil, err
		}
		repo = reg.Addr() + "/" + d.t.Service.Name
		if base == "" {
			// The production base lives on gcr.io; the local loop must work
			// with nothing but Go, so it builds its own.
			base = publish.BaseLocal
		}
	}
	return publish.Build(ctx, publish.Options{
		Dir: s.Root, Config: s.KoConfig, Main: d.t.Service.Dir, Repo: repo,
		Version: st.Version, Commit: st.Commit, CommitTime: st.Time,
		Source: s.SourceURL, Platforms: s.Platforms, Base: base,
		Username: s.RegistryUsername, Password: s.RegistryPassword,
		Logger: d.log,
	})
}

// Refresh asks Argo CD to look at the gitops repository now.
func (d *Deployment) Refresh(ctx context.Context) error {
	s := d.p.s
	return argocd.Refresh(ctx, argocd.Options{Server: s.ArgoServer, Token: s.ArgoToken, App: d.t.ArgoApp})
}

// Rollout makes the gitops head live on the local rollout. When another
// process (`mage local`) serves the rollout, it leaves the rollout to it
// and reports Changed false.
func (d *Deployment) Rollout(ctx context.Context) (rollout.Result, error) {
	d.rollMu.Lock()
	defer d.rollMu.Unlock()
	if d.p.s.LocalRuntime == "podman" {
		return d.playPodman(ctx)
	}
	ro, err := d.rollout(ctx)
	if err != nil || ro == nil {
		return rollout.Result{}, err
	}
	spec, _, err := d.gitopsHead(ctx)
	if err != nil {
		return rollout.Result{}, err
	}
	if d.p.s.LocalRegistry() {
		// The image is pulled from the embedded registry, which must be up.
		if _, err := d.p.registry(ctx); err != nil {
			return rollout.Result{}, err
		}
	}
	return ro.Apply(ctx, spec)
}

// VerifyURL is the base URL verify polls: the target's VERIFY_URL, or its
// local rollout's address in the local loop. Empty means there is nothing
// to poll.
func (d *Deployment) VerifyURL() string {
	switch {
	case d.t.VerifyURL != "":
		return d.t.VerifyURL
	case d.pod != nil:
		return d.pod.URL
	case d.ro != nil:
		return d.ro.URL()
	case d.roURL != "":
		return d.roURL
	case d.p.s.LocalGitops():
		return "http://" + d.t.LocalAddr
	}
	return ""
}

// Verify waits until commit is live at VerifyURL. In the local loop, with
// no rollout of its own, it needs a `mage local` serving the rollout.
func (d *Deployment) Verify(ctx context.Context, commit string) (verify.Result, error) {
	return d.verify(ctx, commit, d.p.s.VerifyTimeout)
}

// verify is Verify with its own bound on the wait.
func (d *Deployment) verify(ctx context.Context, commit string, timeout time.Duration) (verify.Result, error) {
	s := d.p.s
	if d.t.VerifyURL == "" && s.LocalGitops() && d.ro == nil && d.pod == nil && d.roURL == "" && !rollout.Serving(ctx, d.t.LocalAddr) {
		return verify.Result{}, fmt.Errorf("nothing serves the local rollout of %s on %s: start `go tool mage local` in another terminal, or set %s", d.t.Name(), d.t.LocalAddr, d.t.Var("VERIFY_URL"))
	}
	return verify.Live(ctx, verify.Options{
		URL: d.VerifyURL(), Commit: commit,
		Consecutive: s.VerifyConsecutive, Interval: s.VerifyInterval, Timeout: timeout,
		Progress: verify.LogProgress(d.log),
	})
}

// listen takes the target's local address for its rollout and returns its
// URL.
func (d *Deployment) listen(ctx context.Context) (string, error) {
	if d.p.s.LocalRuntime == "podman" {
		// The pod publishes the address itself; there is no proxy to start.
		return "http://" + d.t.LocalAddr, nil
	}
	ro, err := d.rollout(ctx)
	if err != nil {
		return "", err
	}
	if ro == nil {
		d.roURL = "" // asked again on the next try
		return "", fmt.Errorf("another process already serves the local rollout of %s on %s: stop it, or set %s to a free address", d.t.Name(), d.t.LocalAddr, d.t.Var("LOCAL_ADDR"))
	}
	return ro.URL(), nil
}

// follow rolls out each new gitops head of the target until ctx ends. A
// failed rollout is tried again, after 1s, 2s, 4s... up to 30s, as Argo CD
// retries a failed sync; the previous version serves meanwhile.
func (d *Deployment) follow(ctx context.Context, interval time.Duration) {
	var (
		seen    string // the head rolled out (or that had nothing to roll out)
		failed  string // the head whose rollout failed last, tried again at retryAt
		retryAt time.Time
		backoff time.Duration
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		// The branch's head first, shared with the other followers: the
		// manifest is read again only when the branch moved.
		if moved, err := d.p.localHead(ctx, d.t.Branch, interval/2); err == nil && moved == seen && failed == "" {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				continue
			}
		}
		_, head, err := d.gitopsHead(ctx)
		var remote *rollout.RemoteImageError
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Error("read gitops head", "err", err)
		case err != nil, head == seen, head == failed && time.Now().Before(retryAt):
		default:
			if head != failed {
				backoff = 0
			}
			res, err := d.Rollout(ctx)
			switch {
			case errors.As(err, &remote):
				if seen == "" {
					d.log.Info("nothing to roll out yet: waiting for the first bump", "gitops", head[:7], "image", remote.Image)
				}
				seen = head
			case err != nil && ctx.Err() == nil:
				backoff = min(max(2*backoff, time.Second), 30*time.Second)
				failed, retryAt = head, time.Now().Add(backoff)
				d.log.Error("rollout failed; the previous version keeps serving", "gitops", head[:7], "retry_in", backoff, "err", err)
			case err == nil:
				if res.Changed {
					d.log.Info("rolled out", "gitops", head[:7], "image", res.Image, "ready", res.Ready.Round(time.Millisecond))
				}
				seen, failed = head, ""
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// playPodman runs the gitops head with `podman kube play --replace`, a real
// OCI runtime instead of a host process. It replaces the previous pod
// rather than overlapping with it: podman has no rolling update.
func (d *Deployment) playPodman(ctx context.Context) (rollout.Result, error) {
	s, t := d.p.s, d.t
	if err := d.p.InitGitops(ctx, t.Branch, t.Path); err != nil {
		return rollout.Result{}, err
	}
	manifest, _, err := d.readHead(ctx)
	if err != nil {
		return rollout.Result{}, err
	}
	spec, err := rollout.SpecFromManifest(manifest, t.Container)
	if err != nil {
		return rollout.Result{}, err
	}
	// Like the process rollout, podman runs only what the local loop
	// published; it must not pull the seed manifest's public image.
	if ref, err := name.ParseReference(spec.Image); err != nil || !loopback.Host(ref.Context().RegistryStr()) {
		return rollout.Result{}, &rollout.RemoteImageError{Image: spec.Image}
	}
	if s.LocalRegistry() {
		if _, err := d.p.registry(ctx); err != nil {
			return rollout.Result{}, err
		}
	}
	_, portStr, err := net.SplitHostPort(t.LocalAddr)
	if err != nil {
		return rollout.Result{}, fmt.Errorf("%s=%q: want host:port: %w", t.Var("LOCAL_ADDR"), t.LocalAddr, err)
	}
	port, _ := strconv.Atoi(portStr) // 0 lets podman.Play pick a free port
	pod, err := podman.Play(ctx, podman.Options{
		Manifest: manifest, Image: spec.Image, Container: t.Container, HostPort: port,
		Name: d.podName(), Dir: s.LocalDir("podman", t), Logger: d.log,
	})
	if err != nil {
		return rollout.Result{}, err
	}
	previous := ""
	if d.pod != nil {
		previous = d.pod.Name
	}
	d.pod = &pod
	return rollout.Result{Image: spec.Image, Changed: true, Ready: pod.Ready, Previous: previous}, nil
}

// podName names the pod of a target, so that the pods of two services or
// environments do not replace each other; the first environment's keeps
// the Deployment's own name.
func (d *Deployment) podName() string {
	if d.t.First() {
		return ""
	}
	return d.t.Service.Name + "-" + d.t.Environment
}

// gitopsHead reads the target's manifest at the local gitops head.
func (d *Deployment) gitopsHead(ctx context.Context) (rollout.Spec, string, error) {
	t := d.t
	if err := d.p.InitGitops(ctx, t.Branch, t.Path); err != nil {
		return rollout.Spec{}, "", err
	}
	manifest, head, err := d.readHead(ctx)
	if err != nil {
		return rollout.Spec{}, "", err
	}
	spec, err := rollout.SpecFromManifest(manifest, t.Container)
	if err != nil {
		return rollout.Spec{}, "", fmt.Errorf("gitops %s at %s: %w", t.Path, head[:7], err)
	}
	return spec, head, nil
}

// readHead reads the target's manifest at the head of the local gitops
// repository, and the head. A manifest the bump could not read either is
// the same error as status, promote and rollback give for it.
func (d *Deployment) readHead(ctx context.Context) ([]byte, string, error) {
	content, head, err := gitops.Read(ctx, d.p.s.LocalGitopsDir(), d.t.Branch, d.t.Path)
	if err != nil {
		return nil, "", err
	}
	if _, err := manifest.Read(content, d.t.Container); err != nil {
		return nil, "", d.manifestError(bump.Revision{Commit: head, Problem: err})
	}
	return content, head, nil
}

// rollout starts the local rollout, or returns nil when another process
// serves it on the same address.
func (d *Deployment) rollout(ctx context.Context) (*rollout.Rollout, error) {
	if d.ro != nil || d.roURL != "" {
		return d.ro, nil
	}
	if rollout.Serving(ctx, d.t.LocalAddr) {
		d.roURL = "http://" + d.t.LocalAddr
		d.log.Info("the local rollout is served by another process; it rolls out the bump itself", "url", d.roURL)
		return nil, nil
	}
	ro, err := rollout.Start(ctx, rollout.Options{
		Addr: d.t.LocalAddr, Dir: d.p.s.LocalDir("rollout", d.t), Logger: d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w; %s moves it", d.t.Name(), err, d.t.Var("LOCAL_ADDR"))
	}
	d.ro = ro
	return ro, nil
}

// gitopsOptions say where the target's manifest is and how to write it;
// the caller adds what to write.
func (d *Deployment) gitopsOptions() bump.Options {
	s, t := d.p.s, d.t
	env := t.Environment
	if env == config.DefaultEnvironment {
		env = ""
	}
	return bump.Options{
		Repo: s.GitopsTarget(), Path: t.Path, Branch: t.Branch, Container: t.Container,
		Token: s.GitopsToken, APIURL: s.GitHubAPIURL, App: s.GitopsApp,
		Ancestry: bump.GitAncestry{Dir: s.Root},
		Mode:     s.BumpMode, Merge: s.BumpMerge, MergeTimeout: s.BumpMergeTimeout,
		Message: s.BumpMessage, Author: s.BumpAuthor, SourceURL: s.SourceURL, By: by(s),
		Environment: env,
		// A gitops manifest in this very repository must not start the
		// pipeline again with its own bump.
		SkipCI: !s.LocalGitops() && s.GitopsRepo == s.SourceRepo,
		Logger: d.log,
	}
}

// by says who makes a bump, for its pull request.
func by(s config.Settings) string {
	if s.RunURL != "" {
		return "GitHub Actions run " + s.RunURL
	}
	host, _ := os.Hostname()
	return "`go tool mage` on " + host
}

// change makes the bump opts describe, on the target's manifest.
func (d *Deployment) change(ctx context.Context, opts bump.Options) (bump.Result, error) {
	if err := d.p.InitGitops(ctx, d.t.Branch, d.t.Path); err != nil {
		return bump.Result{}, err
	}
	res, err := bump.Image(ctx, opts)
	if unreadable(err) {
		err = fmt.Errorf("%w: %s", err, d.manifestFix(err, ""))
	}
	return res, err
}

// Target is the deployment's target.
func (d *Deployment) Target() config.Target { return d.t }

// Bump points the target's manifest at image, built from commit, with the
// deploy's guards (BUMP_FORCE and BUMP_DRY_RUN apply).
func (d *Deployment) Bump(ctx context.Context, image, commit string) (bump.Result, error) {
	opts := d.gitopsOptions()
	opts.Image, opts.SourceCommit = image, commit
	opts.Force, opts.DryRun = d.p.s.BumpForce, d.p.s.BumpDryRun
	return d.change(ctx, opts)
}

// Publish builds and pushes the service's image of its stamp.
func (d *Deployment) Publish(ctx context.Context, st stamp.Stamp) (publish.Result, error) {
	b, err := d.Build(ctx, st)
	if err != nil {
		return publish.Result{}, err
	}
	return b.Push(ctx)
}

// History returns the last limit revisions of the target's manifest,
// newest first.
func (d *Deployment) History(ctx context.Context, limit int) ([]bump.Revision, error) {
	if err := d.p.InitGitops(ctx, d.t.Branch, d.t.Path); err != nil {
		return nil, err
	}
	return bump.History(ctx, d.gitopsOptions(), limit)
}

// rolloutDetail rolls the gitops head out on this machine and says how.
func (d *Deployment) rolloutDetail(ctx context.Context) (string, error) {
	res, err := d.Rollout(ctx)
	switch {
	case err != nil:
		return "", err
	case res.Image == "":
		return "left to the running `mage local`", nil
	case !res.Changed:
		return "already live: " + res.Image, nil
	case res.PID == 0:
		return fmt.Sprintf("podman pod ready in %s", res.Ready.Round(time.Millisecond)), nil
	}
	return fmt.Sprintf("pid %d ready in %s", res.PID, res.Ready.Round(time.Millisecond)), nil
}
