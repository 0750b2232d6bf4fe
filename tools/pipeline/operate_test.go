package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/internal/syncbuf"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
	"github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// The manifests of the two environments of the gitops template.
const (
	stagingPath    = "manifests/platform-demo/00-deployment.yaml"
	productionPath = "manifests/platform-demo-production/00-deployment.yaml"
)

// world is where a scenario runs: its settings, the /version address of
// each environment, and what records the gitops commits.
type world struct {
	settings config.Settings
	urls     map[string]string
	// log returns the messages of the gitops commits, newest first.
	log func() []string
}

// operate runs the life of two commits through staging and production, as
// users run it: ci takes the first live on staging, promote takes it to
// production, ci takes a second commit to staging and promote to
// production, rollback takes staging back, a promotion of the older commit
// is refused, and rollback takes production back to the first commit by
// name. After each step it asks each environment's /version what runs.
// It returns the second commit and its image.
func operate(t *testing.T, root string, w world) (buildinfo.Info, string) {
	ctx := context.Background()
	s := w.settings
	first, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	want := func(step string, staging, production string) {
		t.Helper()
		for env, commit := range map[string]string{"staging": staging, "production": production} {
			got := ""
			if v, err := verify.Probe(ctx, nil, w.urls[env]); err == nil {
				got = v.Commit
			}
			if got != commit {
				t.Errorf("after %s: %s /version reports %q, want %q", step, env, got, commit)
			}
		}
	}
	deployed := func(step string, sum Summary, err error, commit string) ServiceResult {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", step, err, sum.Text())
		}
		r := result(t, sum, fixture.Reference)
		if r.Result != Deployed || r.LiveCommit != commit || !strings.Contains(stages(sum), "verify:ok") {
			t.Fatalf("%s: %s, live %q (stages %s), want %s verified\n%s", step, r.Result, r.LiveCommit, stages(sum), commit, sum.Text())
		}
		return r
	}
	promote := func() (Summary, error) {
		return Promote(ctx, PromoteOptions{Settings: s, Target: "production"})
	}

	sum, err := Run(ctx, Options{Settings: s, Build: first})
	firstImage := deployed("ci of the first commit", sum, err, first.Commit).Image
	want("ci of the first commit", first.Commit, "")

	sum, err = promote()
	if r := deployed("promote the first commit", sum, err, first.Commit); r.Image != firstImage || !strings.HasPrefix(stages(sum), fixture.Reference+" check:ok "+fixture.Reference+" bump:ok") {
		t.Errorf("promote shipped %s (stages %s), want exactly the image staging runs, %s", r.Image, stages(sum), firstImage)
	}
	want("promote", first.Commit, first.Commit)

	second := change(t, root, fixture.Reference, "second")
	sum, err = Run(ctx, Options{Settings: s, Build: second})
	secondImage := deployed("ci of the second commit", sum, err, second.Commit).Image
	want("ci of the second commit", second.Commit, first.Commit)

	st, err := ReadStatus(ctx, s, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range st.Targets {
		if e.Verdict != InSync || !e.ImageFound {
			t.Errorf("status of %s = %s (%s), image found %v; want in sync, image in the registry", e.Environment, e.Verdict, e.Why, e.ImageFound)
		}
	}
	if len(st.Targets) != 2 || st.Targets[0].SourceCommit != second.Commit || st.Targets[1].Live != first.Commit || len(st.Bad()) > 0 {
		t.Errorf("status = %+v, want staging at %s, production live at %s", st, second.Version, first.Version)
	}

	sum, err = promote()
	if r := deployed("promote the second commit", sum, err, second.Commit); r.Image != secondImage || r.ReplacedCommit != first.Commit {
		t.Errorf("promote: image %s replacing %s, want %s replacing %s", r.Image, r.ReplacedCommit, secondImage, first.Commit)
	}
	want("promote the second commit", second.Commit, second.Commit)

	sum, err = Rollback(ctx, RollbackOptions{Settings: s, Reason: "second commit breaks checkout"})
	if r := deployed("rollback of staging", sum, err, first.Commit); r.Image != firstImage || r.ReplacedCommit != second.Commit || sum.Environment != "staging" {
		t.Errorf("rollback: %s to %s replacing %s, want staging to %s replacing %s", sum.Environment, r.Image, r.ReplacedCommit, firstImage, second.Commit)
	}
	want("rollback of staging", first.Commit, second.Commit)
	msg := w.log()[0]
	for _, line := range []string{"roll back to " + first.Version + " (was " + second.Commit[:7] + ")", "Source-Commit: " + first.Commit, "Environment: staging", "Reason: second commit breaks checkout"} {
		if !strings.Contains(msg, line) {
			t.Errorf("rollback's gitops commit message lacks %q:\n%s", line, msg)
		}
	}

	sum, err = promote()
	if err == nil || !strings.Contains(err.Error(), "production runs "+second.Commit[:7]+", newer than "+first.Commit[:7]) {
		t.Errorf("promote of the older commit: %v, want refused because production runs a newer one\n%s", err, sum.Text())
	}
	want("a refused promotion", first.Commit, second.Commit)

	sum, err = Rollback(ctx, RollbackOptions{Settings: s, Environment: "production", To: first.Commit[:8]})
	deployed("rollback of production to a named commit", sum, err, first.Commit)
	want("rollback of production", first.Commit, first.Commit)
	if msg := w.log()[0]; !strings.Contains(msg, "Environment: production") || !strings.Contains(msg, "Reason: none given") {
		t.Errorf("rollback without a reason: message %q, want it to name production and say no reason was given", msg)
	}
	return second, secondImage
}

// TestEnvironmentsLocal runs the scenario on the local loop, with a `mage
// local` serving both environments, each on its own port, and the gitops
// repository the local loop keeps (the git backend).
func TestEnvironmentsLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service: skipped with -short")
	}
	t.Parallel()
	root := clone(t)
	staging, production := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"PIPELINE_STATE_DIR":    filepath.Join(root, ".state"),
		"LOCAL_REGISTRY_ADDR":   freeAddr(t),
		"LOCAL_ADDR":            staging,
		"LOCAL_ADDR_PRODUCTION": production,
		"VERIFY_TIMEOUT":        "1m",
	}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	// What `mage local` logs, shown when the test fails.
	var logs syncbuf.Buffer
	local := New(s, slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mage local logged:\n%s", logs.String())
		}
	})
	served := make(chan error, 1)
	go func() {
		served <- local.Serve(ctx, ServeOptions{Interval: 50 * time.Millisecond, Ready: func(config.Target, string) {}})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
		local.Close(context.Background())
	})
	for _, addr := range []string{staging, production} {
		if err := waitServing(addr); err != nil {
			t.Fatal(err)
		}
	}
	operate(t, root, world{
		settings: s,
		urls:     map[string]string{"staging": "http://" + staging, "production": "http://" + production},
		log: func() []string {
			out := git(t, root, "--git-dir", s.LocalGitopsDir(), "log", "-z", "--format=%B", "main")
			return strings.Split(out, "\x00")
		},
	})
}

// waitServing waits until the local rollout listens on addr.
func waitServing(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !rollout.Serving(ctx, addr) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing serves %s: %w", addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// TestEnvironmentsProduction runs the scenario on the production path, as
// the Actions jobs do, once per gitops backend: the Contents API (against
// its stand-in) and plain git (against a bare repository). Argo CD and the
// two namespaces are the stand-in cluster, whose refresh rolls each
// application's manifest out.
func TestEnvironmentsProduction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service: skipped with -short")
	}
	t.Parallel()
	for _, backend := range []string{"contents-api", "git"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			root := clone(t)
			env := map[string]string{
				"GITHUB_REPOSITORY": "andrelair-platform/platform-demo", "PIPELINE_STATE_DIR": t.TempDir(),
				"REGISTRY_USERNAME": regUser, "REGISTRY_PASSWORD": regPass, "PUBLISH_BASE": "local",
				"ARGOCD_AUTH_TOKEN": argoToken,
				"VERIFY_INTERVAL":   "100ms", "VERIFY_TIMEOUT": "1m",
				// No soak: a promotion then needs no verdict (soak_test.go
				// has the soaked ones).
				"VERIFY_SOAK": "0",
			}
			var w world
			var read func(string) ([]byte, bool)
			switch backend {
			case "contents-api":
				const repo = "andrelair-platform/minicloud-gitops"
				files := map[string]string{}
				for _, p := range []string{stagingPath, productionPath} {
					b, err := os.ReadFile(filepath.Join(root, "gitops", p))
					if err != nil {
						t.Fatal(err)
					}
					files[p] = string(b)
				}
				gh := githubtest.New()
				t.Cleanup(gh.Close)
				gh.CreateRepo(repo, "main", files)
				gh.AddToken(ghToken, githubtest.Token{Login: "platform-bot", Scopes: []string{"repo"}})
				env["GITOPS_REPO"], env["GITOPS_TOKEN"], env["GITHUB_API_URL"] = repo, ghToken, gh.URL
				read = fromGitHub(gh, repo)
				w.log = func() []string {
					var out []string
					for _, c := range gh.Log(repo, "main") {
						out = append(out, c.Message)
					}
					return out
				}
			case "git":
				bare := filepath.Join(t.TempDir(), "gitops.git")
				if _, err := gitops.Init(ctx, gitops.Options{Dir: bare, Seed: filepath.Join(root, "gitops"), Branch: "main"}); err != nil {
					t.Fatal(err)
				}
				env["GITOPS_REPO"] = "file://" + bare
				read = func(path string) ([]byte, bool) {
					b, _, err := gitops.Read(ctx, bare, "main", path)
					return b, err == nil
				}
				w.log = func() []string {
					return strings.Split(git(t, root, "--git-dir", bare, "log", "-z", "--format=%B", "main"), "\x00")
				}
			}
			w = production(t, root, env, read, w.log)
			s := w.settings
			second, secondImage := operate(t, root, w)

			st, err := ReadStatus(ctx, s, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range st.Targets {
				if e.Argo == nil || e.Argo.Sync != "Synced" || e.Verdict != InSync {
					t.Errorf("status of %s: Argo CD %+v (%s), verdict %s; want Synced and in sync", e.Environment, e.Argo, e.ArgoError, e.Verdict)
				}
			}

			// Git moves staging on, and nothing rolls it out: staging has
			// drifted, and nothing is promoted from it.
			env["VERIFY_TIMEOUT"] = "2s"
			s, err = config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
			if err != nil {
				t.Fatal(err)
			}
			p := New(s, nil)
			defer p.Close(ctx)
			tg, err := s.Target(fixture.Reference, "staging")
			if err != nil {
				t.Fatal(err)
			}
			if res, err := p.Deployment(tg).Bump(ctx, secondImage, second.Commit); err != nil {
				t.Fatalf("Bump() = %v, %v", res, err)
			}
			if st, err = ReadStatus(ctx, s, "", nil); err != nil {
				t.Fatal(err)
			}
			if e := st.Targets[0]; e.Verdict != Drifted || len(st.Bad()) == 0 {
				t.Errorf("status of staging after a bump nothing rolled out = %s (%s), want drifted", e.Verdict, e.Why)
			}
			sum, err := Promote(ctx, PromoteOptions{Settings: s, Target: "production"})
			if err == nil || !strings.Contains(err.Error(), "platform-demo in staging is not verified") {
				t.Errorf("Promote() from a drifted staging = %v, want refused\n%s", err, sum.Text())
			}
		})
	}
}

// production completes env with the production path's parts, as the
// Actions jobs reach them: a registry that requires credentials to push,
// and Argo CD with one application per environment, whose refresh reads the
// environment's manifest from the gitops repository (read) and rolls it out
// on a rollout of its own. It returns the world the scenario runs in.
func production(t *testing.T, root string, env map[string]string, read func(string) ([]byte, bool), log func() []string) world {
	t.Helper()
	ctx := context.Background()
	reg := httptest.NewServer(pushAuth())
	t.Cleanup(reg.Close)
	env["KO_DOCKER_REPO"] = strings.TrimPrefix(reg.URL, "http://") + "/andrelair-platform"
	argo := &cluster{t: t, read: read, apps: map[string]app{}}
	w := world{urls: map[string]string{}, log: log}
	for name, path := range map[string]string{"staging": stagingPath, "production": productionPath} {
		ro, err := rollout.Start(ctx, rollout.Options{Addr: "127.0.0.1:0", Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ro.Close(context.Background()) })
		application := "platform-demo"
		if name == "production" {
			application = "platform-demo-production"
		}
		argo.apps[application] = app{path, ro}
		w.urls[name] = ro.URL()
	}
	srv := httptest.NewServer(argo)
	t.Cleanup(srv.Close)
	env["ARGOCD_SERVER"] = srv.URL
	env["VERIFY_URL"], env["VERIFY_URL_PRODUCTION"] = w.urls["staging"], w.urls["production"]
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	w.settings = s
	return w
}

// TestLocalRetriesFailedRollout guards `mage local` against a failure that
// passes: the registry is down when a bump arrives, so the rollout fails;
// once the registry is back, the rollout is tried again and the bump goes
// live without another bump, as Argo CD retries a failed sync.
func TestLocalRetriesFailedRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service: skipped with -short")
	}
	t.Parallel()
	ctx := context.Background()
	root := clone(t)
	regAddr, addr := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"PIPELINE_STATE_DIR": filepath.Join(root, ".state"), "LOCAL_REGISTRY_ADDR": regAddr,
		"LOCAL_ADDR": addr, "LOCAL_ADDR_PRODUCTION": freeAddr(t), "VERIFY_TIMEOUT": "30s",
	}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	// The registry is another process's, as when `mage ci` serves it.
	regOpts := registry.Options{Dir: filepath.Join(s.StateDir, "registry"), Addr: regAddr}
	reg, err := registry.Start(ctx, regOpts)
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	var logs syncbuf.Buffer
	local := New(s, slog.New(slog.NewTextHandler(&logs, nil)))
	served := make(chan error, 1)
	go func() {
		served <- local.Serve(serveCtx, ServeOptions{Interval: 50 * time.Millisecond, Ready: func(config.Target, string) {}})
	}()
	t.Cleanup(func() {
		stop()
		<-served
		local.Close(context.Background())
		if t.Failed() {
			t.Logf("mage local logged:\n%s", logs.String())
		}
	})
	if err := waitServing(addr); err != nil {
		t.Fatal(err)
	}

	info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	ci := New(s, nil)
	defer ci.Close(ctx)
	tg, err := s.Target(fixture.Reference, "staging")
	if err != nil {
		t.Fatal(err)
	}
	d := ci.Deployment(tg)
	stamps, err := ci.Stamps(ctx, s.Services)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := d.Publish(ctx, stamps[fixture.Reference])
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Bump(ctx, pub.Ref, info.Commit); err != nil {
		t.Fatal(err)
	}
	// The rollout of the bump fails while the registry is down...
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "rollout failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed rollout while the registry was down:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...and succeeds once it is back, with no new bump.
	if reg, err = registry.Start(ctx, regOpts); err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := d.Verify(ctx, info.Commit); err != nil {
		t.Fatalf("after the registry came back: %v", err)
	}
	// The image says which commit it was built from (mage bump and
	// rollback -to=<image> read it).
	if rev, err := ci.ImageRevision(ctx, pub.Ref); err != nil || rev != info.Commit {
		t.Errorf("ImageRevision(%s) = %q, %v; want %s", pub.Ref, rev, err, info.Commit)
	}
}
