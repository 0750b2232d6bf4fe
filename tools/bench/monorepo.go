package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/andrelair-platform/platform-demo/services/kit/contract"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/syncbuf"
)

const (
	monoOneGroup  = "6 five services: go tool mage ci after a one-line change to one service"
	monoKitGroup  = "7 five services: go tool mage ci after a one-line change to the service kit"
	monoDocsGroup = "8 five services: go tool mage ci after a docs-only commit"
	monoNewGroup  = "9 go tool mage new <name>"
)

// newServices are the services the monorepo part adds with `mage new`, to
// platform-demo: five in all.
var newServices = []string{"api", "billing", "search", "worker"}

// monorepo measures `go tool mage ci` in a copy of the repository as it
// grows from one service to five, with `go tool mage local` serving every
// service the whole time, as a developer keeps it running: the one-line
// change to platform-demo with one service and then with five (same
// change, same run), `mage new` itself, a change to the service kit that
// every service imports, and a commit to the docs only. Besides the wall
// times it counts what each run deployed and which of the untouched
// services' processes restarted: their /version's start time must stay.
func (b *bencher) monorepo(ctx context.Context) error {
	// Each service takes two ports (staging, production), ten apart.
	var offsets []int
	for i := range 1 + len(newServices) {
		offsets = append(offsets, 10*i, 10*i+1)
	}
	ws, ci, local, _, err := b.localCopy(ctx, "monorepo", offsets, "platform-demo in production")
	if err != nil {
		return err
	}
	defer local.stop()

	one, err := b.monoRuns(ctx, ws, ci, local, serviceEdit, "1 service", b.opts.Runs)
	if err != nil {
		return err
	}

	var news []float64
	for _, name := range newServices {
		d, _, err := runCmd(ctx, ws.dir, ci.env, "go", "tool", "mage", "new", name)
		if err != nil {
			return err
		}
		news = append(news, seconds(d))
		fmt.Fprintf(b.opts.Out, "bench %s: go tool mage new %s: %s\n", monoNewGroup[:1], name, d.Round(time.Millisecond))
		if _, err := runGit(ctx, ws.dir, "add", "-A"); err != nil {
			return err
		}
		if _, err := runGit(ctx, ws.dir, "commit", "-q", "-m", name+": a new service"); err != nil {
			return err
		}
		// The running `mage local` serves the new service without a
		// restart; the runs below need it to.
		if err := local.waitServing(ctx, name+" in staging"); err != nil {
			return err
		}
	}
	// The first deploy of the new services (and of platform-demo again:
	// go.work changed, which every service is built with), and a warm-up
	// of the change with five.
	r, err := ci.run(ctx, ws)
	if err != nil {
		return err
	}
	for _, name := range newServices {
		if r.result(name) != "deployed" {
			return fmt.Errorf("the first go tool mage ci after go tool mage new did not deploy %s:\n%s", name, r.text)
		}
	}
	if _, err := ci.change(ctx, ws, serviceEdit); err != nil {
		return err
	}

	five, err := b.monoRuns(ctx, ws, ci, local, serviceEdit, "5 services", b.opts.Runs)
	if err != nil {
		return err
	}
	kitRuns, err := b.monoRuns(ctx, ws, ci, local, kitEdit, "5 services", b.opts.Runs)
	if err != nil {
		return err
	}
	docs, err := b.monoRuns(ctx, ws, ci, local, docsEdit, "5 services", b.opts.Runs)
	if err != nil {
		return err
	}

	oneM := newMeasure(monoOneGroup, "1 service: go tool mage ci, wall", UnitSeconds, one.walls, nil, nil)
	fiveM := newMeasure(monoOneGroup, "5 services: go tool mage ci, wall", UnitSeconds, five.walls, &oneM, &Goal{OnRatio: true, Limit: 1.2})
	b.add(fiveM,
		newMeasure(monoOneGroup, "images built and bumped", UnitNumber, five.deployed, nil, &Goal{Limit: 1, Worst: true}).sub(),
		newMeasure(monoOneGroup, "restarts of the 4 other services", UnitNumber, five.restarts, nil, &Goal{Limit: 0, Worst: true}).sub(),
		newMeasure(monoOneGroup, "stage test (the gate)", UnitSeconds, five.gate, nil, nil).sub(),
		oneM.sub(),
		newMeasure(monoOneGroup, "1 service: images built and bumped", UnitNumber, one.deployed, nil, &Goal{Limit: 1, Worst: true}).sub())

	b.add(newMeasure(monoKitGroup, "5 services: go tool mage ci, wall", UnitSeconds, kitRuns.walls, &fiveM, &Goal{OnRatio: true, Limit: 2.5}),
		newMeasure(monoKitGroup, "images built and bumped", UnitNumber, kitRuns.deployed, nil, &Goal{Limit: 5, AtLeast: true, Worst: true}).sub(),
		newMeasure(monoKitGroup, "stage test (the gate)", UnitSeconds, kitRuns.gate, nil, nil).sub())

	docsM := newMeasure(monoDocsGroup, "5 services: go tool mage ci, wall", UnitSeconds, docs.walls, nil, nil)
	over := make([]float64, len(docs.walls))
	for i := range over {
		over[i] = docs.walls[i] - docs.gate[i]
	}
	b.add(docsM,
		newMeasure(monoDocsGroup, "wall beyond its gate (stage test)", UnitSeconds, over, nil, &Goal{Limit: 2}).sub(),
		newMeasure(monoDocsGroup, "stage test (the gate)", UnitSeconds, docs.gate, nil, nil).sub(),
		newMeasure(monoDocsGroup, "images built and bumped", UnitNumber, docs.deployed, nil, &Goal{Limit: 0, Worst: true}).sub(),
		newMeasure(monoDocsGroup, "restarts of the 5 services", UnitNumber, docs.restarts, nil, &Goal{Limit: 0, Worst: true}).sub())

	b.add(newMeasure(monoNewGroup, "wall, in the copy, "+strings.Join(newServices, ", "), UnitSeconds, news, nil, &Goal{Limit: 5, Worst: true}))
	b.note("%s: %d services in the copy, `go tool mage local` serving all of them in both environments the whole time", monoOneGroup[2:], 1+len(newServices))
	return nil
}

// monoSeries is what runs of one change did.
type monoSeries struct {
	walls, gate, deployed, restarts []float64
}

// monoRuns commits the change e runs times and runs `go tool mage ci`
// after each, counting the services deployed and the processes of the
// others that restarted.
func (b *bencher) monoRuns(ctx context.Context, ws *workspace, ci *ciProcess, local *localProcess, e edit, what string, runs int) (monoSeries, error) {
	var s monoSeries
	for i := range runs {
		before, err := local.started(ctx)
		if err != nil {
			return s, err
		}
		r, err := ci.change(ctx, ws, e)
		if err != nil {
			return s, err
		}
		after, err := local.started(ctx)
		if err != nil {
			return s, err
		}
		restarts := 0
		for svc, t := range before {
			if after[svc] != t && r.result(svc) != "deployed" {
				restarts++
			}
		}
		gate := 0.0
		for _, st := range r.summary.Stages {
			if st.Name == "test" {
				gate = st.Seconds
			}
		}
		s.walls = append(s.walls, seconds(r.wall))
		s.gate = append(s.gate, gate)
		s.deployed = append(s.deployed, float64(r.count("deployed")))
		s.restarts = append(s.restarts, float64(restarts))
		fmt.Fprintf(b.opts.Out, "bench %s, %s: change to %s %d/%d: mage ci %s (gate %.2fs), %d deployed, %d other restarted\n",
			monoOneGroup[:1], what, e.file, i+1, runs, r.wall.Round(time.Millisecond), gate, r.count("deployed"), restarts)
	}
	return s, nil
}

// localCopy makes a copy of the repository named name in the scratch
// directory, a `go tool mage ci` of its own on loopback ports from the
// offsets on, and `go tool mage local` serving it (the caller stops it),
// once it serves the target first ("platform-demo in staging"). It runs
// `mage ci` twice: the first run deploys platform-demo, the second warms
// what a change makes the gate and the build do. base is the first port.
func (b *bencher) localCopy(ctx context.Context, name string, offsets []int, first string) (ws *workspace, ci *ciProcess, local *localProcess, base int, err error) {
	ws, err = newWorkspace(ctx, b.opts.Root, filepath.Join(b.tmp, name))
	if err != nil {
		return nil, nil, nil, 0, err
	}
	if base, err = loopback.FreeRun(offsets...); err != nil {
		return nil, nil, nil, 0, err
	}
	if ci, err = b.newCI(filepath.Join(b.tmp, name+"-state"), base); err != nil {
		return nil, nil, nil, 0, err
	}
	if local, err = startLocal(ctx, ws, ci.env); err != nil {
		return nil, nil, nil, 0, err
	}
	if err := local.waitServing(ctx, first); err != nil {
		local.stop()
		return nil, nil, nil, 0, err
	}
	for range 2 {
		if _, err := ci.change(ctx, ws, serviceEdit); err != nil {
			local.stop()
			return nil, nil, nil, 0, err
		}
	}
	return ws, ci, local, base, nil
}

// localProcess is `go tool mage local` running in the workspace.
type localProcess struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

// startLocal starts `go tool mage local` in the workspace, in a process
// group of its own, stopped with the bench.
func startLocal(ctx context.Context, ws *workspace, env []string) (*localProcess, error) {
	cmd := exec.Command("go", "tool", "mage", "local")
	cmd.Dir, cmd.Env = ws.dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start go tool mage local: %w", err)
	}
	l := &localProcess{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { l.done <- cmd.Wait() }()
	return l, nil
}

// waitServing waits until `mage local` says it serves target ("api in
// staging").
func (l *localProcess) waitServing(ctx context.Context, target string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(l.out.String(), "serving the gitops head of "+target+" at") {
		select {
		case err := <-l.done:
			return fmt.Errorf("go tool mage local ended (%v) before it served %s:\n%s", err, target, l.out.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("go tool mage local does not serve %s after 2m:\n%s", target, l.out.String())
		}
	}
	return nil
}

// started reads, for each service `mage local` serves in staging with a
// version live, when its process started, from its /version.
func (l *localProcess) started(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(l.out.String(), "\n") {
		rest, ok := strings.CutPrefix(line, "serving the gitops head of ")
		if !ok {
			continue
		}
		target, url, ok := strings.Cut(rest, " at ")
		svc, env, ok2 := strings.Cut(target, " in ")
		if !ok || !ok2 || env != "staging" {
			continue
		}
		url, _, _ = strings.Cut(url, " ")
		v, err := liveVersion(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("%s in staging: %w", svc, err)
		}
		if v.Started != "" {
			out[svc] = v.Started
		}
	}
	return out, nil
}

// liveVersion reads GET url/version; a rollout with nothing live yet
// answers 503, read as no version.
func liveVersion(ctx context.Context, url string) (contract.Version, error) {
	var v contract.Version
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+contract.VersionPath, nil)
	if err != nil {
		return v, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, nil
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// stop interrupts `mage local` as Ctrl-C does and waits for it, killing
// it after 10s.
func (l *localProcess) stop() {
	_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		<-l.done
	}
}
