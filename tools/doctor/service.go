package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/andrelair-platform/platform-demo/tools/argocd"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// verify asks the live service of every service in every environment
// which commit it runs, all at once: one row each.
func (d *doctor) verify(ctx context.Context) []Row {
	targets := d.targets()
	rows := make([]Row, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		prefix := ""
		if len(targets) > 1 {
			prefix = t.Name() + ": "
		}
		wg.Go(func() { rows[i] = d.verifyIn(ctx, t, prefix) })
	}
	wg.Wait()
	return rows
}

// verifyIn asks one target's service which commit it runs; prefix names
// the target when there are several.
func (d *doctor) verifyIn(ctx context.Context, t config.Target, prefix string) (row Row) {
	row.Check = CheckVerify
	defer func() { row.Found = prefix + row.Found }()
	urlVar := t.Var("VERIFY_URL")
	target := t.VerifyURL
	if target == "" {
		if !d.s.LocalGitops() {
			row.Found = fmt.Sprintf("not set: verify is skipped (set %s when the service is reachable from where ci runs)", urlVar)
			return row
		}
		// The local loop serves the live version on its local address.
		target = "http://" + t.LocalAddr
		v, err := verify.Probe(ctx, d.opts.HTTPClient, target)
		switch {
		case err == nil:
			row.Found = fmt.Sprintf("local mode: %s runs commit %s (version %s)", target, v.Commit, v.Version)
		case errors.Is(err, syscall.ECONNREFUSED):
			// ci deploys the first environment, promote the others.
			by := "promote"
			if t.First() {
				by = "ci"
			}
			row.Found = fmt.Sprintf("local mode: nothing live on %s yet; %s serves the local rollout there", t.LocalAddr, by)
		default:
			row.Status = Warn
			row.Found = fmt.Sprintf("local mode: %s does not answer as the service: %s", target, d.cause(err))
			row.Fix = fmt.Sprintf("stop what serves %s, or set %s to a free loopback address", t.LocalAddr, t.Var("LOCAL_ADDR"))
		}
		return row
	}
	shown := secret.URL(target)
	v, err := verify.Probe(ctx, d.opts.HTTPClient, target)
	if err != nil {
		row.Status = Fail
		// The error starts with the request, which may carry credentials in
		// the URL; the row names the URL redacted instead.
		msg := err.Error()
		if _, rest, ok := strings.Cut(msg, "/version: "); ok {
			msg = rest
		}
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) {
			msg = d.cause(err)
		}
		row.Found = fmt.Sprintf("%s/version: %s", strings.TrimRight(shown, "/"), msg)
		row.Fix = fmt.Sprintf("check %s and that the service is reachable from this machine (a GitHub-hosted runner cannot reach a LAN address)", urlVar)
		return row
	}
	row.Found = fmt.Sprintf("%s runs commit %s (version %s)", shown, v.Commit, v.Version)
	return row
}

// argo checks the optional Argo CD refresh: server reachable, token
// accepted, application readable.
func (d *doctor) argo(ctx context.Context) []Row {
	if d.s.ArgoServer == "" || d.s.ArgoToken == "" {
		return []Row{{Check: CheckArgo, Found: "not set: no refresh after the bump (Argo CD polls the gitops repository every 3 minutes)"}}
	}
	targets := d.targets()
	rows := make([]Row, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			row := Row{Check: CheckArgo}
			defer func() { rows[i] = row }()
			if !d.s.ArgoConfigured(t) {
				row.Found = t.Name() + ": no Argo CD application named; set " + t.Var("ARGOCD_APP")
				return
			}
			err := argocd.Check(ctx, argocd.Options{
				Server: d.s.ArgoServer, Token: d.s.ArgoToken, App: t.ArgoApp,
				Timeout: d.opts.Timeout, HTTPClient: d.opts.HTTPClient,
			})
			if err != nil {
				row.Status = Fail
				row.Found = t.Name() + ": " + err.Error()
				row.Fix = "check " + t.Var("ARGOCD_APP") + "; see docs/verify.md (Argo CD refresh)"
				return
			}
			row.Found = fmt.Sprintf("%s: %s accepts the token (%s) and shows application %q", t.Name(), secret.URL(d.s.ArgoServer), secret.Mask(d.s.ArgoToken), t.ArgoApp)
		})
	}
	wg.Wait()
	return rows
}

// targets are every service's target, environment by environment, in the
// order the rows are printed.
func (d *doctor) targets() []config.Target {
	var targets []config.Target
	for _, e := range d.s.Environments {
		ts, _ := d.s.Targets(e.Name, "")
		targets = append(targets, ts...)
	}
	return targets
}
