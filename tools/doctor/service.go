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

// verify asks the live service of every environment which commit it
// runs, all environments at once: one row each.
func (d *doctor) verify(ctx context.Context) []Row {
	envs := d.s.Environments
	if len(envs) == 0 {
		return []Row{d.verifyIn(ctx, d.s, "")}
	}
	rows := make([]Row, len(envs))
	var wg sync.WaitGroup
	for i, e := range envs {
		s, err := d.s.In(e.Name)
		if err != nil {
			rows[i] = Row{Check: CheckVerify, Status: Fail, Found: err.Error()}
			continue
		}
		prefix := ""
		if len(envs) > 1 {
			prefix = e.Name + ": "
		}
		wg.Go(func() { rows[i] = d.verifyIn(ctx, s, prefix) })
	}
	wg.Wait()
	return rows
}

// verifyIn asks one environment's service which commit it runs; prefix
// names the environment when there are several.
func (d *doctor) verifyIn(ctx context.Context, s config.Settings, prefix string) (row Row) {
	row.Check = CheckVerify
	defer func() { row.Found = prefix + row.Found }()
	urlVar := s.VarFor("VERIFY_URL")
	target := s.VerifyURL
	if target == "" {
		if !s.LocalGitops() {
			row.Found = fmt.Sprintf("not set: verify is skipped (set %s when the service is reachable from where ci runs)", urlVar)
			return row
		}
		// The local loop serves the live version on LOCAL_ADDR.
		target = "http://" + s.LocalAddr
		v, err := verify.Probe(ctx, d.opts.HTTPClient, target)
		switch {
		case err == nil:
			row.Found = fmt.Sprintf("local mode: %s runs commit %s (version %s)", target, v.Commit, v.Version)
		case errors.Is(err, syscall.ECONNREFUSED):
			// ci deploys the first environment, promote the others.
			by := "promote"
			if s.FirstEnvironment() {
				by = "ci"
			}
			row.Found = fmt.Sprintf("local mode: nothing live on %s yet; %s serves the local rollout there", s.LocalAddr, by)
		default:
			row.Status = Warn
			row.Found = fmt.Sprintf("local mode: %s does not answer as the service: %s", target, d.cause(err))
			row.Fix = fmt.Sprintf("stop what serves %s, or set %s to a free loopback address", s.LocalAddr, s.LocalAddrVar())
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
	row := Row{Check: CheckArgo}
	if !d.s.ArgoConfigured() {
		row.Found = "not set: no refresh after the bump (Argo CD polls the gitops repository every 3 minutes)"
		return []Row{row}
	}
	err := argocd.Check(ctx, argocd.Options{
		Server: d.s.ArgoServer, Token: d.s.ArgoToken, App: d.s.ArgoApp,
		Timeout: d.opts.Timeout, HTTPClient: d.opts.HTTPClient,
	})
	if err != nil {
		row.Status = Fail
		row.Found = err.Error()
		row.Fix = "see docs/verify.md (Argo CD refresh)"
		return []Row{row}
	}
	row.Found = fmt.Sprintf("%s accepts the token (%s) and shows application %q", secret.URL(d.s.ArgoServer), secret.Mask(d.s.ArgoToken), d.s.ArgoApp)
	return []Row{row}
}
