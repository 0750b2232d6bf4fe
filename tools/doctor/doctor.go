// Package doctor checks, in seconds and before anything is built, that the
// pipeline's settings, credentials and remote services will work: the
// configuration, the gitops token (its shape, then GitHub's answer to it),
// the gitops target, the registry, ~/.netrc, the live service and Argo CD.
// Every problem found comes with its fix. Secrets appear only as a prefix of
// at most four characters and a length.
package doctor

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// DefaultTimeout bounds each check when Options.Timeout is zero.
const DefaultTimeout = 3 * time.Second

// Names of the checks, as Row.Check shows them and Options.Only selects them.
const (
	CheckConfig   = "configuration"
	CheckEnvs     = "environments"
	CheckToken    = "GITOPS_TOKEN"
	CheckGitHub   = "GitHub API"
	CheckGitops   = "gitops target"
	CheckRegistry = "registry"
	CheckNetrc    = "~/.netrc"
	CheckVerify   = "VERIFY_URL"
	CheckArgo     = "Argo CD"
	CheckState    = "state directory"
	CheckGit      = "git"
	CheckRuntime  = "LOCAL_RUNTIME"
)

// Preflight lists the checks `mage ci` runs before it builds anything: those
// that decide whether the publish and the bump can work. The live service is
// left out, because before a first deploy it may rightly not answer yet.
var Preflight = []string{
	CheckConfig, CheckToken, CheckGitHub, CheckGitops, CheckRegistry, CheckArgo, CheckState, CheckGit,
}

// Options says what to check.
type Options struct {
	// Settings is the configuration to check, from config.Load.
	Settings config.Settings
	// ConfigErr is the error config.Load returned with Settings, if any; the
	// configuration row reports it.
	ConfigErr error
	// HTTPClient makes the GitHub, verify and Argo CD requests, and its
	// Transport the registry's. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds each check. Zero means DefaultTimeout.
	Timeout time.Duration
	// Home is the user's home directory, where ~/.netrc is looked for.
	// Empty skips that check.
	Home string
	// Only, when not empty, limits the report to the checks named here
	// (CheckConfig, ...). Preflight is the list `mage ci` uses.
	Only []string
	// Keychain finds registry credentials when REGISTRY_USERNAME is not
	// set. Nil means authn.DefaultKeychain (the Docker config).
	Keychain authn.Keychain
	// PodmanHelperDirs are where podman's helper programs are looked for
	// with LOCAL_RUNTIME=podman; nil means podman.HelperDirs.
	PodmanHelperDirs []string
}

// Status is the outcome of one check.
type Status int

// Outcomes of a check. Only Fail makes Report.Failed true.
const (
	OK Status = iota
	Warn
	Fail
)

// String returns the symbol the report prints for s.
func (s Status) String() string {
	switch s {
	case OK:
		return "✓"
	case Warn:
		return "!"
	case Fail:
		return "✗"
	}
	return "?"
}

// Row is the result of one check.
type Row struct {
	// Check names the check (CheckConfig, ...).
	Check string
	// Status is OK, Warn or Fail.
	Status Status
	// Found says what the check saw.
	Found string
	// Fix says what to do about it; empty when there is nothing to do.
	Fix string
}

// Setting is one configuration variable as the report shows it.
type Setting struct {
	// Name is the environment variable.
	Name string
	// Value is its value; a secret is shown as a prefix and a length.
	Value string
	// Source says where the value came from: env, default or unset.
	Source config.Source
}

// Report is the result of Run.
type Report struct {
	// Mode is the run's shape: local, github or mixed.
	Mode string
	// Settings lists the configuration, when CheckConfig ran.
	Settings []Setting
	// Rows holds one row per check, in a fixed order.
	Rows []Row
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	return slices.ContainsFunc(r.Rows, func(row Row) bool { return row.Status == Fail })
}

// Text renders the report for a terminal: the settings, then one aligned
// line per check with its fix on the lines below.
func (r Report) Text() string {
	var b strings.Builder
	if len(r.Settings) > 0 {
		fmt.Fprintf(&b, "Settings (mode %s):\n", r.Mode)
		nameW, valueW := 0, 0
		for _, s := range r.Settings {
			nameW = max(nameW, len(s.Name))
			valueW = max(valueW, width(s.Value))
		}
		for _, s := range r.Settings {
			fmt.Fprintf(&b, "  %s  %s  %s\n", pad(s.Name, nameW), pad(s.Value, valueW), s.Source)
		}
		b.WriteString("\n")
	}
	checkW := 0
	for _, row := range r.Rows {
		checkW = max(checkW, width(row.Check))
	}
	indent := strings.Repeat(" ", 2+1+2+checkW+2)
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "  %s  %s  %s\n", row.Status, pad(row.Check, checkW), row.Found)
		if row.Fix != "" {
			for i, line := range strings.Split(row.Fix, "\n") {
				prefix := "  "
				if i == 0 {
					prefix = "→ "
				}
				fmt.Fprintf(&b, "%s%s%s\n", indent, prefix, line)
			}
		}
	}
	fails, warns := 0, 0
	for _, row := range r.Rows {
		switch row.Status {
		case Fail:
			fails++
		case Warn:
			warns++
		}
	}
	fmt.Fprintf(&b, "\n%d checks: %d failed, %s\n", len(r.Rows), fails, plural(warns, "warning"))
	return b.String()
}

// width counts runes, which is what a terminal shows for this text.
func width(s string) int { return len([]rune(s)) }

func pad(s string, w int) string { return s + strings.Repeat(" ", max(0, w-width(s))) }

// Run performs the checks, the remote ones in parallel, each bounded by
// opts.Timeout, and returns their rows in a fixed order. It never fails:
// every problem is a row.
func Run(ctx context.Context, opts Options) Report {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	d := &doctor{opts: opts, s: opts.Settings}
	checks := []struct {
		names []string
		run   func(context.Context) []Row
	}{
		{[]string{CheckConfig, CheckEnvs}, d.config},
		{[]string{CheckToken}, d.tokenShape},
		{[]string{CheckGitHub, CheckGitops}, d.github},
		{[]string{CheckRegistry}, d.registry},
		{[]string{CheckNetrc}, d.netrc},
		{[]string{CheckVerify}, d.verify},
		{[]string{CheckArgo}, d.argo},
		{[]string{CheckState}, d.stateDir},
		{[]string{CheckGit}, d.git},
		{[]string{CheckRuntime}, d.runtime},
	}
	wanted := func(name string) bool { return len(opts.Only) == 0 || slices.Contains(opts.Only, name) }
	results := make([][]Row, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		if !slices.ContainsFunc(c.names, wanted) {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			results[i] = c.run(ctx)
		})
	}
	wg.Wait()

	r := Report{Mode: d.s.Mode()}
	if wanted(CheckConfig) {
		r.Settings = settingsTable(d.s)
	}
	secrets := []string{d.s.GitopsToken, d.s.RegistryPassword, d.s.ArgoToken}
	for _, rows := range results {
		for _, row := range rows {
			if !wanted(row.Check) {
				continue
			}
			row.Found, row.Fix = secret.Redact(row.Found, secrets...), secret.Redact(row.Fix, secrets...)
			r.Rows = append(r.Rows, row)
		}
	}
	return r
}

// doctor carries the options through the checks.
type doctor struct {
	opts Options
	s    config.Settings
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
