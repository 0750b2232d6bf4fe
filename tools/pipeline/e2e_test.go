package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// clone makes a source repository for the pipeline to take live: a
// workspace of the named stand-in services with build settings shaped like
// the repository's, and the repository's own gitops/ template (with
// manifests for each service), committed once. It returns its root. The
// services are the stand-in, so that these tests run again when the
// pipeline or the gitops template changes, not on every change to the real
// services (which `mage ci` itself takes live).
func clone(t *testing.T, services ...string) string {
	t.Helper()
	if len(services) == 0 {
		services = []string{fixture.Reference}
	}
	src := filepath.Join(inputstest.Need(t, inputs.Gitops), "gitops")
	dst := filepath.Join(t.TempDir(), "platform-demo")
	if err := fixture.Workspace(dst, src, services...); err != nil {
		t.Fatal(err)
	}
	git(t, dst, "init", "-q", "-b", "main")
	commit(t, dst, "initial")
	return dst
}

// change commits a change to a source file of the named service, which
// changes its binary.
func change(t *testing.T, root, svc, msg string) buildinfo.Info {
	t.Helper()
	path := filepath.Join(root, "services", svc, "change.go")
	if err := os.WriteFile(path, []byte("package main\n\n// "+msg+"\nvar change = "+strconv.Quote(msg)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return commit(t, root, msg)
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func commit(t *testing.T, dir, msg string) buildinfo.Info {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
	info, err := buildinfo.Read(context.Background(), buildinfo.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// localSettings are the local loop's settings for the clone at root, on
// free ports; vars are more settings, name and value in turn. The local
// addresses are 127.0.0.1:0 unless vars set LOCAL_ADDR: each rollout takes
// a free port. The registry keeps its port across runs, as it does for
// users: an image names its base by the registry's address, so a build's
// digest depends on it.
func localSettings(t *testing.T, root string, vars ...string) config.Settings {
	t.Helper()
	env := map[string]string{
		"PIPELINE_STATE_DIR":  filepath.Join(root, ".state"),
		"LOCAL_REGISTRY_ADDR": freeAddr(t),
		"LOCAL_ADDR":          "127.0.0.1:0",
		"VERIFY_TIMEOUT":      "2m",
		// Every deploy is soaked and judged, briefly.
		"VERIFY_SOAK": "300ms", "VERIFY_SOAK_INTERVAL": "20ms",
	}
	for i := 0; i+1 < len(vars); i += 2 {
		env[vars[i]] = vars[i+1]
	}
	s, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// results are a summary's services as "name:result", in order.
func results(sum Summary) string {
	var out []string
	for _, r := range sum.Services {
		out = append(out, r.Service+":"+r.Result)
	}
	return strings.Join(out, " ")
}

// stages are a summary's stages as "[service ]name:status", in order.
func stages(sum Summary) string {
	var out []string
	for _, st := range sum.Stages {
		out = append(out, strings.TrimSpace(st.Service+" "+st.Name)+":"+st.Status)
	}
	return strings.Join(out, " ")
}

// result is the named service's result, or a failure of the test.
func result(t *testing.T, sum Summary, svc string) ServiceResult {
	t.Helper()
	r, ok := sum.Service(svc)
	if !ok {
		t.Fatalf("the summary has no row for %s:\n%s", svc, sum.Text())
	}
	return r
}

// TestLocalLoop drives ci through the local loop with two services: the
// first run takes both live; a change to one deploys that one alone and
// leaves the other's process running; a docs-only commit builds nothing;
// a manifest whose source commit says otherwise but whose digest is the
// build's is not bumped; and an older checkout stands down.
func TestLocalLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the services: skipped with -short")
	}
	// Its own clone, ports and state: it runs beside the others, which
	// spend most of their time waiting for builds and rollouts.
	t.Parallel()
	ctx := context.Background()
	root := clone(t, "platform-demo", "hello")
	// Fixed addresses, as `mage local` has: each Run finds the rollouts p
	// serves there and leaves the rollout to them, then verifies what they
	// serve. (With port 0, a Run would start rollouts of its own, and what
	// p serves would catch up on its next poll.) The offsets are the two
	// environments of the two services' slots.
	base, err := loopback.FreeRun(0, 1, 10, 11)
	if err != nil {
		t.Fatal(err)
	}
	s := localSettings(t, root, "LOCAL_ADDR", fmt.Sprintf("127.0.0.1:%d", base))
	head := func() buildinfo.Info {
		info, err := buildinfo.Read(ctx, buildinfo.Options{Dir: root})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	// One Pipeline across the runs, as `mage local` keeps the rollouts:
	// what each run deploys, it serves.
	p := New(s, nil)
	defer p.Close(ctx)
	stop := serve(t, p)
	defer stop()
	live := func(svc string) verify.Version {
		t.Helper()
		tg, err := s.Target(svc, s.First().Name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := verify.Probe(ctx, nil, p.Deployment(tg).VerifyURL())
		if err != nil {
			t.Fatalf("%s /version: %v", svc, err)
		}
		return v
	}
	first := head()

	sum, err := Run(ctx, Options{Settings: s, Build: first})
	if err != nil {
		t.Fatalf("first Run() error = %v\n%s", err, sum.Text())
	}
	if got, want := results(sum), "hello:deployed platform-demo:deployed"; got != want {
		t.Fatalf("first run: %s, want %s\n%s", got, want, sum.Text())
	}
	for _, svc := range []string{"hello", "platform-demo"} {
		r := result(t, sum, svc)
		if r.LiveCommit != first.Commit || r.Live <= 0 || !strings.Contains(r.Image, "/"+svc+":") || !strings.Contains(r.Image, "@sha256:") || len(r.GitopsCommit) != 40 {
			t.Errorf("first run, %s = %+v, want %s live from its own digest-pinned image and a gitops commit", svc, r, first.Version)
		}
	}
	demoStarted := live("platform-demo").Started

	second := change(t, root, "hello", "hello changes")
	sum, err = Run(ctx, Options{Settings: s, Build: second})
	if err != nil {
		t.Fatalf("Run() after a change to hello: %v\n%s", err, sum.Text())
	}
	if got, want := results(sum), "hello:deployed platform-demo:unchanged"; got != want {
		t.Errorf("after a change to hello: %s, want %s\n%s", got, want, sum.Text())
	}
	if got, want := stages(sum), "test:skipped plan:ok hello build:ok hello push:ok hello bump:ok hello rollout:ok hello verify:ok hello soak:ok hello record:ok"; got != want {
		t.Errorf("after a change to hello: stages %s, want %s", got, want)
	}
	for _, st := range sum.Stages {
		if st.Name == "rollout" && !strings.Contains(st.Detail, "left to the running `mage local`") {
			t.Errorf("after a change to hello: %s rollout %q, want it left to the rollouts p serves", st.Service, st.Detail)
		}
	}
	if r := result(t, sum, "platform-demo"); r.Commit != first.Commit || !strings.Contains(r.Detail, "no file it is built from changed since "+first.Version) {
		t.Errorf("platform-demo = %+v, want unchanged since %s", r, first.Version)
	}
	if v := live("hello"); v.Commit != second.Commit {
		t.Errorf("hello /version = %+v, want %s", v, second.Version)
	}
	if v := live("platform-demo"); v.Commit != first.Commit || !v.Started.Equal(demoStarted) {
		t.Errorf("platform-demo /version = %+v, want %s still, started at %s: it must not restart", v, first.Version, demoStarted)
	}

	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte("# docs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docs := commit(t, root, "docs only")
	sum, err = Run(ctx, Options{Settings: s, Build: docs})
	if err != nil {
		t.Fatalf("Run() after a docs-only commit: %v\n%s", err, sum.Text())
	}
	if got, want := results(sum), "hello:unchanged platform-demo:unchanged"; got != want {
		t.Errorf("after a docs-only commit: %s, want %s\n%s", got, want, sum.Text())
	}
	if got, want := stages(sum), "test:skipped plan:ok"; got != want {
		t.Errorf("after a docs-only commit: stages %s, want the plan alone", got)
	}

	// A run of an older checkout stands down: a newer commit is deployed.
	git(t, root, "checkout", "-q", first.Commit)
	sum, err = Run(ctx, Options{Settings: s, Build: first})
	if err != nil {
		t.Fatalf("Run() of an older checkout: %v\n%s", err, sum.Text())
	}
	if r := result(t, sum, "hello"); r.Result != Newer {
		t.Errorf("hello from an older checkout = %+v, want %s: %s runs", r, Newer, second.Version)
	}
	if v := live("hello"); v.Commit != second.Commit {
		t.Errorf("after an older run: hello /version = %+v, want %s still", v, second.Version)
	}
	git(t, root, "checkout", "-q", "main")

	// Ground truth over the analysis: the manifest says another source
	// commit, but the image is the digest a build gives; nothing is bumped.
	tg, _ := s.Target("hello", s.First().Name)
	d := p.Deployment(tg)
	revs, err := d.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := d.gitopsOptions()
	opts.Image, opts.SourceCommit, opts.Force = revs[0].Image, first.Commit, true
	if _, err := d.change(ctx, opts); err != nil {
		t.Fatal(err)
	}
	sum, err = Run(ctx, Options{Settings: s, Build: docs})
	if err != nil {
		t.Fatalf("Run() with a misleading manifest: %v\n%s", err, sum.Text())
	}
	if r := result(t, sum, "hello"); r.Result != Unchanged || !strings.Contains(r.Detail, "rebuilt to the digest") || strings.Contains(stages(sum), "hello bump") {
		t.Errorf("hello with the digest it runs = %+v (stages %s), want unchanged, not bumped", r, stages(sum))
	}

}

// serve runs p's local rollouts as `mage local` does, until stop.
func serve(t *testing.T, p *Pipeline) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- p.Serve(ctx, ServeOptions{Interval: 100 * time.Millisecond, Ready: func(config.Target, string) { ready <- struct{}{} }})
	}()
	n := 0
	for _, e := range p.Settings().Environments {
		ts, _ := p.Settings().Targets(e.Name, "")
		n += len(ts)
	}
	for range n {
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Serve() = %v before it served", err)
		}
	}
	return func() {
		cancel()
		<-done
	}
}

// freeAddr is a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}
