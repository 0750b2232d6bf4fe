package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// config reports the mode and any error config.Load found.
func (d *doctor) config(context.Context) []Row {
	row := Row{Check: CheckConfig}
	images := d.s.ImageRepo("<service>")
	if d.s.LocalRegistry() {
		images = "the embedded registry (" + images + ")"
	}
	bumps := d.s.GitopsTarget()
	switch {
	case d.s.LocalGitops():
		bumps = "the local gitops repository (" + bumps + ")"
	case bump.IsGitHubRepo(d.s.GitopsRepo):
		bumps = d.s.GitopsRepo + " through " + secret.URL(d.s.GitHubAPIURL)
	default:
		bumps = secret.URL(bumps)
	}
	row.Found = fmt.Sprintf("mode %s: images to %s, bumps to %s", d.s.Mode(), images, bumps)
	// GITOPS_TOKEN has a row of its own, which says the same.
	var msgs []string
	for _, err := range unjoin(d.opts.ConfigErr) {
		var se *secret.Error
		if errors.As(err, &se) && se.Name == CheckToken {
			continue
		}
		msgs = append(msgs, err.Error())
	}
	switch {
	case len(msgs) > 0:
		row.Status = Fail
		row.Found = strings.ReplaceAll(strings.Join(msgs, "\n"), "\n", "; ")
		row.Fix = "set the variables as the message says"
	case len(d.s.Warnings) > 0:
		row.Status = Warn
		row.Found += "; " + strings.Join(d.s.Warnings, "; ")
	}
	return []Row{row, d.environments()}
}

// environments lists where commits go live, in order, and the services
// that go there, with where the first environment serves each locally.
func (d *doctor) environments() Row {
	row := Row{Check: CheckEnvs}
	var envs []string
	for _, e := range d.s.Environments {
		at := e.VerifyURL
		switch {
		case at == "" && d.s.LocalGitops():
			at = "local rollouts from " + e.LocalAddr
		case at == "":
			at = "no verify URL"
		}
		envs = append(envs, fmt.Sprintf("%s (%s, %s)", e.Name, e.Path, secret.URL(at)))
	}
	row.Found = strings.Join(envs, " → ")
	if len(envs) == 0 {
		row.Status, row.Found = Fail, "none: "+config.EnvironmentsFile+" did not load"
		row.Fix = "fix " + config.EnvironmentsFile + " as the configuration row says"
		return row
	}
	var svcs []string
	for _, svc := range d.s.Services {
		t, err := d.s.Target(svc.Name, d.s.First().Name)
		if err != nil {
			continue
		}
		svcs = append(svcs, fmt.Sprintf("%s (%s)", svc.Name, t.LocalAddr))
	}
	if len(svcs) == 0 {
		row.Status = Warn
		row.Found += "; no services"
		row.Fix = "a service is a directory services/<name> that go.work uses, with a main package: go tool mage new <name> makes one"
		return row
	}
	row.Found += "; services: " + strings.Join(svcs, ", ")
	return row
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// settingsTable lists every variable config reads, with its value and where
// it came from, as config recorded them.
func settingsTable(s config.Settings) []Setting {
	out := make([]Setting, len(s.Vars))
	for i, v := range s.Vars {
		out[i] = Setting{Name: v.Name, Value: v.Shown(), Source: v.Source}
	}
	return out
}
