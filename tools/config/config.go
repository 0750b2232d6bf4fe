// Package config turns the pipeline's environment variables into one
// validated Settings value. The names of the variables are part of the
// product's interface (README.md lists them); the package never reads the
// process environment itself: callers pass a lookup function, so the magefile
// passes os.LookupEnv and tests pass a map.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/forge"
	"github.com/andrelair-platform/platform-demo/tools/internal/git"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/service"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// DefaultDeployBranch is the branch of this repository whose pushes deploy.
const DefaultDeployBranch = "main"

// Settings is everything a pipeline run needs, resolved from the environment.
type Settings struct {
	// Root is the repository root (the directory holding go.work).
	Root string
	// StateDir holds local-mode state: the embedded registry's storage, the
	// local gitops repository and the local rollout.
	StateDir string
	// InActions reports GITHUB_ACTIONS=true.
	InActions bool
	// GitHubSHA is the commit Actions builds (GITHUB_SHA), empty outside it.
	GitHubSHA string
	// SourceRepo is owner/name of this repository (GITHUB_REPOSITORY).
	SourceRepo string
	// SourceURL is the web address of this repository, used for the
	// org.opencontainers.image.source label.
	SourceURL string
	// StepSummary is the file Actions renders under the run (GITHUB_STEP_SUMMARY).
	StepSummary string
	// RunURL is the page of the workflow run (from GITHUB_RUN_ID), empty
	// outside Actions.
	RunURL string
	// StepOutput is the file Actions reads step outputs from (GITHUB_OUTPUT).
	StepOutput string
	// EventName is the event that started the workflow (GITHUB_EVENT_NAME):
	// push, pull_request, workflow_dispatch...
	EventName string
	// Ref is the ref the workflow runs on (GITHUB_REF), e.g. refs/heads/main.
	Ref string
	// DeployBranch is the branch whose pushes deploy (DEPLOY_BRANCH).
	DeployBranch string

	// Registry is KO_DOCKER_REPO, the prefix of the image repositories
	// (<prefix>/<service>); empty means the embedded registry.
	Registry string
	// RegistryAddr is where the embedded registry listens (LOCAL_REGISTRY_ADDR).
	RegistryAddr string
	// RegistryUsername and RegistryPassword authenticate pushes when set.
	RegistryUsername string
	RegistryPassword string
	// Platforms lists the image platforms (PLATFORMS).
	Platforms []string
	// Base is "local" for the in-process static base, or empty for the
	// production base named in .ko.yaml (PUBLISH_BASE).
	Base string
	// KoConfig is where the build settings are (KO_CONFIG_PATH, as ko reads
	// it: a .ko.yaml or a directory holding one); empty means .ko.yaml at
	// the root.
	KoConfig string

	// GitopsRepo is GITOPS_REPO: owner/name (GitHub API), or a git URL or
	// path. Empty means the local gitops repository in StateDir.
	GitopsRepo string
	// GitopsToken authenticates the bump (GITOPS_TOKEN).
	GitopsToken string
	// GitHubAPIURL is the Contents API root (GITHUB_API_URL).
	GitHubAPIURL string
	// GitopsApp, when GITOPS_APP_ID and GITOPS_APP_PRIVATE_KEY are set, is
	// the GitHub App whose installation tokens write the gitops repository
	// in place of GITOPS_TOKEN.
	GitopsApp *forge.App
	// BumpForce allows replacing a newer commit with an older one (BUMP_FORCE=1).
	BumpForce bool
	// BumpDryRun prints the diff and writes nothing (BUMP_DRY_RUN=1).
	BumpDryRun bool
	// BumpMode is "push" (commit to GITOPS_BRANCH) or "pr" (open a pull
	// request to it) (BUMP_MODE).
	BumpMode string
	// BumpMerge merges the bump's pull request once the host allows it
	// (BUMP_MERGE=1), waiting at most BumpMergeTimeout (BUMP_MERGE_TIMEOUT).
	BumpMerge        bool
	BumpMergeTimeout time.Duration
	// BumpMessage is the commit message template (BUMP_MESSAGE); empty
	// means bump.DefaultMessage.
	BumpMessage string
	// BumpAuthor authors the bump's commits (BUMP_AUTHOR_NAME,
	// BUMP_AUTHOR_EMAIL); empty means the token's own identity on the API
	// (the App's bot, whose commits GitHub signs) and bump.DefaultAuthor
	// with git.
	BumpAuthor git.Identity

	// VerifyConsecutive, VerifyInterval and VerifyTimeout shape verify's
	// wait (VERIFY_CONSECUTIVE, VERIFY_INTERVAL, VERIFY_TIMEOUT).
	VerifyConsecutive int
	VerifyInterval    time.Duration
	VerifyTimeout     time.Duration
	// VerifySoak and VerifySoakInterval shape the soak after the version
	// check (VERIFY_SOAK, 0 turns it off; VERIFY_SOAK_INTERVAL);
	// VerifyMaxErrorRate is the share of failed answers it allows
	// (VERIFY_MAX_ERROR_RATE); VerifyRollback is "auto" or "off"
	// (VERIFY_ROLLBACK): whether a failed soak rolls the environment back.
	VerifySoak         time.Duration
	VerifySoakInterval time.Duration
	VerifyMaxErrorRate float64
	VerifyRollback     string

	// ArgoServer and ArgoToken configure the optional refresh after a bump;
	// each target names its Application.
	ArgoServer string
	ArgoToken  string

	// LocalRuntime is "process" (default) or "podman" (LOCAL_RUNTIME).
	LocalRuntime string

	// Services are the repository's services (tools/service), in name order.
	Services []service.Service
	// Environments are where commits go live, in order (gitops/environments.yaml,
	// else one environment of the settings), their fields resolved for one
	// run: the variables that override them applied, {service} left in.
	Environments []Environment
	// targets are every service's target in every environment.
	targets []Target

	// Vars records every variable Load read: its value, where the value
	// came from, and whether it is a secret. Doctor prints it.
	Vars []Var
	// Warnings are what the settings allow but a person should know before
	// anything runs: a local address other machines can reach, an override
	// of an environment that does not exist. Load only returns them; the
	// targets print them.
	Warnings []string
}

// DefaultEnvironment names the one environment of a repository without an
// environments file.
const DefaultEnvironment = "default"

// Var is one environment variable as Load read it.
type Var struct {
	// Name is the variable, e.g. GITOPS_PATH.
	Name string
	// Value is the value in effect: from the environment, else the default.
	Value string
	// Source says where Value came from.
	Source Source
	// Secret values are shown only as a prefix and a length.
	Secret bool
}

// Shown is the value as a report may show it: a secret masked, a URL
// without its user information, "(unset)" for nothing.
func (v Var) Shown() string {
	switch {
	case v.Secret:
		return secret.Mask(v.Value)
	case v.Value == "":
		return "(unset)"
	}
	return secret.URL(v.Value)
}

// Var returns the record of the named variable, and whether Load read it.
func (s Settings) Var(name string) (Var, bool) {
	for _, v := range s.Vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// Source says where a setting's value came from.
type Source string

// Sources of a setting.
const (
	FromEnv     Source = "env"
	FromDefault Source = "default"
	Unset       Source = "unset"
)

// LocalRegistry reports whether images go to the embedded registry.
func (s Settings) LocalRegistry() bool { return s.Registry == "" }

// LocalGitops reports whether bumps go to the local gitops repository.
func (s Settings) LocalGitops() bool { return s.GitopsRepo == "" }

// ImageRepo is the repository a service's images are pushed to:
// <KO_DOCKER_REPO>/<service>, as ko names images, or the embedded
// registry's <service>.
func (s Settings) ImageRepo(svc string) string {
	if s.LocalRegistry() {
		return s.RegistryAddr + "/" + svc
	}
	return strings.TrimSuffix(s.Registry, "/") + "/" + svc
}

// LocalGitopsDir is the bare repository the local loop bumps.
func (s Settings) LocalGitopsDir() string { return filepath.Join(s.StateDir, "gitops.git") }

// GitopsTarget is the gitops repository bumps write to: GITOPS_REPO, or the
// local repository.
func (s Settings) GitopsTarget() string {
	if s.LocalGitops() {
		return s.LocalGitopsDir()
	}
	return s.GitopsRepo
}

// Mode names the run's shape for humans: "local", "github" or "mixed".
func (s Settings) Mode() string {
	switch {
	case s.LocalRegistry() && s.LocalGitops():
		return "local"
	case !s.LocalRegistry() && !s.LocalGitops():
		return "github"
	default:
		return "mixed"
	}
}

// Load resolves Settings from lookup (os.LookupEnv in the magefile). root is
// the repository root. It fails with every problem found, each naming the
// variable and the fix.
func Load(lookup func(string) (string, bool), root string) (Settings, error) {
	l := loader{lookup: lookup}
	s := Settings{
		Root:         root,
		StateDir:     l.str("PIPELINE_STATE_DIR", filepath.Join(root, ".state")),
		InActions:    l.str("GITHUB_ACTIONS", "") == "true",
		GitHubSHA:    l.str("GITHUB_SHA", ""),
		SourceRepo:   l.str("GITHUB_REPOSITORY", "andrelair-platform/platform-demo"),
		StepSummary:  l.str("GITHUB_STEP_SUMMARY", ""),
		StepOutput:   l.str("GITHUB_OUTPUT", ""),
		EventName:    l.str("GITHUB_EVENT_NAME", ""),
		Ref:          l.str("GITHUB_REF", ""),
		DeployBranch: l.str("DEPLOY_BRANCH", DefaultDeployBranch),

		Registry:         l.str("KO_DOCKER_REPO", ""),
		RegistryAddr:     l.str("LOCAL_REGISTRY_ADDR", registry.DefaultAddr),
		RegistryUsername: l.str("REGISTRY_USERNAME", ""),
		RegistryPassword: l.secret("REGISTRY_PASSWORD"),
		Platforms:        splitList(l.str("PLATFORMS", "")),
		Base:             l.str("PUBLISH_BASE", ""),
		KoConfig:         l.str("KO_CONFIG_PATH", ""),

		GitopsRepo:       l.str("GITOPS_REPO", ""),
		GitopsToken:      l.secret("GITOPS_TOKEN"),
		GitHubAPIURL:     l.str("GITHUB_API_URL", forge.DefaultAPIURL),
		BumpForce:        l.flag("BUMP_FORCE"),
		BumpDryRun:       l.flag("BUMP_DRY_RUN"),
		BumpMode:         l.str("BUMP_MODE", bump.ModePush),
		BumpMerge:        l.flag("BUMP_MERGE"),
		BumpMergeTimeout: l.duration("BUMP_MERGE_TIMEOUT", bump.DefaultMergeTimeout),
		BumpMessage:      l.str("BUMP_MESSAGE", ""),
		BumpAuthor:       git.Identity{Name: l.str("BUMP_AUTHOR_NAME", ""), Email: l.str("BUMP_AUTHOR_EMAIL", "")},

		VerifyConsecutive: l.integer("VERIFY_CONSECUTIVE", verify.DefaultConsecutive),
		VerifyTimeout:     l.duration("VERIFY_TIMEOUT", verify.DefaultTimeout),

		ArgoServer: l.str("ARGOCD_SERVER", ""),
		ArgoToken:  l.secret("ARGOCD_AUTH_TOKEN"),

		LocalRuntime: l.str("LOCAL_RUNTIME", "process"),
	}
	// A relative state directory is the repository's, wherever the target
	// runs; and as an absolute path its gitops repository can never read as
	// a GitHub owner/name.
	if !filepath.IsAbs(s.StateDir) && root != "" {
		s.StateDir = filepath.Join(root, s.StateDir)
	}
	// The local rollout goes live in milliseconds: poll it faster unless
	// told otherwise.
	interval := verify.DefaultInterval
	if s.LocalGitops() {
		interval = verify.LocalInterval
	}
	s.VerifyInterval = l.duration("VERIFY_INTERVAL", interval)
	// So does its soak: about as many probes in seconds as a production
	// soak makes in a minute.
	soak, soakInterval := verify.DefaultSoak, verify.DefaultSoakInterval
	if s.LocalGitops() {
		soak, soakInterval = verify.LocalSoak, verify.LocalSoakInterval
	}
	s.VerifySoak = l.duration("VERIFY_SOAK", soak)
	s.VerifySoakInterval = l.duration("VERIFY_SOAK_INTERVAL", soakInterval)
	s.VerifyMaxErrorRate = l.share("VERIFY_MAX_ERROR_RATE", verify.DefaultMaxErrorRate)
	s.VerifyRollback = l.str("VERIFY_ROLLBACK", RollbackAuto)
	if root != "" {
		svcs, err := service.List(root)
		if err != nil {
			l.errs = append(l.errs, err)
		}
		s.Services = svcs
	}
	var overrides map[string]map[string]override
	s.Environments, overrides = l.environments(root, s)
	s.targets = l.resolveTargets(s, overrides)
	appID, appKey, appInstallation := l.str("GITOPS_APP_ID", ""), l.secret("GITOPS_APP_PRIVATE_KEY"), l.str("GITOPS_APP_INSTALLATION_ID", "")
	serverURL := l.str("GITHUB_SERVER_URL", "https://github.com")
	// The source's address goes into commit messages and image labels:
	// never with credentials.
	s.SourceURL = strings.TrimSuffix(secret.URL(serverURL), "/") + "/" + s.SourceRepo
	if run := l.str("GITHUB_RUN_ID", ""); run != "" {
		s.RunURL = s.SourceURL + "/actions/runs/" + run
	}

	tokenRule := bump.TokenRule
	tokenRule.Repo = s.SourceRepo
	registryRule := secret.Rule{Name: "REGISTRY_PASSWORD", MinLen: 12, Repo: s.SourceRepo}
	if strings.HasPrefix(s.Registry, "ghcr.io/") {
		registryRule.MinLen = forge.MinTokenLen
	}
	for _, c := range []struct {
		rule  secret.Rule
		value string
	}{
		{tokenRule, s.GitopsToken},
		{registryRule, s.RegistryPassword},
		{secret.Rule{Name: "ARGOCD_AUTH_TOKEN", MinLen: 20, Repo: s.SourceRepo}, s.ArgoToken},
	} {
		if err := c.rule.Check(c.value); err != nil {
			l.errs = append(l.errs, err)
		}
	}
	switch {
	case appID != "" && appKey != "":
		app, err := loadApp(appID, appKey, appInstallation)
		if err != nil {
			l.errs = append(l.errs, err)
		} else {
			s.GitopsApp = app
		}
	case appID != "" || appKey != "":
		l.errs = append(l.errs, errors.New("the GitHub App is half configured: set both GITOPS_APP_ID and GITOPS_APP_PRIVATE_KEY, or neither (and GITOPS_TOKEN)"))
	}
	if s.BumpMode != bump.ModePush && s.BumpMode != bump.ModePR {
		l.errs = append(l.errs, fmt.Errorf("BUMP_MODE=%q: want %q (commit to GITOPS_BRANCH) or %q (open a pull request to it)", s.BumpMode, bump.ModePush, bump.ModePR))
	}
	if s.BumpMerge && s.BumpMode != bump.ModePR {
		l.errs = append(l.errs, errors.New("BUMP_MERGE=1 merges the bump's pull request: set BUMP_MODE=pr too"))
	}
	if s.BumpMerge && !bump.IsGitHubRepo(s.GitopsRepo) {
		l.errs = append(l.errs, errors.New("BUMP_MERGE=1 merges pull requests through the host's API, and a git remote (or the local loop) has none: the bump pushes its branch for a pull request you open; unset BUMP_MERGE, or set GITOPS_REPO to owner/name"))
	}
	switch {
	case s.BumpMessage != "" && strings.TrimSpace(s.BumpMessage) == "":
		l.errs = append(l.errs, fmt.Errorf("BUMP_MESSAGE=%q is blank: unset it for the default message, or give a template whose first line says what the commit does", s.BumpMessage))
	case s.BumpMessage != "":
		if _, err := bump.ParseMessage(s.BumpMessage); err != nil {
			l.errs = append(l.errs, err)
		}
	}
	if (s.BumpAuthor.Name == "") != (s.BumpAuthor.Email == "") {
		l.errs = append(l.errs, errors.New("set both BUMP_AUTHOR_NAME and BUMP_AUTHOR_EMAIL, or neither"))
	}
	if s.BumpAuthor.Name != "" {
		if err := git.CheckName(s.BumpAuthor.Name); err != nil {
			l.errs = append(l.errs, fmt.Errorf("BUMP_AUTHOR_NAME: %w", err))
		}
	}
	if s.BumpAuthor.Email != "" {
		if err := git.CheckEmail(s.BumpAuthor.Email); err != nil {
			l.errs = append(l.errs, fmt.Errorf("BUMP_AUTHOR_EMAIL: %w", err))
		}
	}
	s.Vars = l.vars
	sort.Slice(s.Vars, func(i, j int) bool { return s.Vars[i].Name < s.Vars[j].Name })

	errs := l.errs
	if deploy, _ := s.Deploys(); s.InActions && deploy {
		// A hosted runner has no local loop to fall back to: a missing
		// setting there is a misconfigured repository, not a wish to run
		// locally. The image goes next to the repository on ghcr.io, in
		// lower case: ghcr.io refuses capitals, which github.repository keeps.
		if s.Registry == "" {
			owner, _, _ := strings.Cut(s.SourceRepo, "/")
			s.Registry = "ghcr.io/" + strings.ToLower(owner)
			for i := range s.Vars {
				if s.Vars[i].Name == "KO_DOCKER_REPO" {
					s.Vars[i].Value, s.Vars[i].Source = s.Registry, FromDefault
				}
			}
		}
		if s.GitopsRepo == "" {
			errs = append(errs, errors.New("GITOPS_REPO is not set inside GitHub Actions: add a repository variable GITOPS_REPO (owner/name of the gitops repository)"))
		}
	}
	if last := path.Base(strings.TrimSuffix(s.Registry, "/")); s.Registry != "" && slices.ContainsFunc(s.Services, func(svc service.Service) bool { return svc.Name == last }) {
		s.Warnings = append(s.Warnings, fmt.Sprintf("KO_DOCKER_REPO=%s ends with the name of the service %s: it is the prefix of every service's image, so %s pushes to %s; set KO_DOCKER_REPO=%s to keep the image where it was",
			s.Registry, last, last, s.ImageRepo(last), path.Dir(strings.TrimSuffix(s.Registry, "/"))))
	}
	if s.Registry != "" && s.Registry != strings.ToLower(s.Registry) {
		errs = append(errs, fmt.Errorf("KO_DOCKER_REPO=%q: registries refuse capitals in repository names: write it in lower case, %s", s.Registry, strings.ToLower(s.Registry)))
	}
	if s.VerifyConsecutive < 1 {
		errs = append(errs, fmt.Errorf("VERIFY_CONSECUTIVE=%d: want a whole number of at least 1", s.VerifyConsecutive))
	}
	if s.VerifyInterval <= 0 {
		errs = append(errs, fmt.Errorf("VERIFY_INTERVAL=%s: want a positive duration such as 2s", s.VerifyInterval))
	}
	if s.VerifySoak < 0 {
		errs = append(errs, fmt.Errorf("VERIFY_SOAK=%s: want a duration such as 60s, or 0 to turn the soak off", s.VerifySoak))
	}
	if s.VerifySoakInterval <= 0 || (s.VerifySoak > 0 && s.VerifySoakInterval > s.VerifySoak) {
		errs = append(errs, fmt.Errorf("VERIFY_SOAK_INTERVAL=%s: want a positive duration no longer than VERIFY_SOAK (%s), such as 1s", s.VerifySoakInterval, s.VerifySoak))
	}
	if s.VerifyRollback != RollbackAuto && s.VerifyRollback != RollbackOff {
		errs = append(errs, fmt.Errorf("VERIFY_ROLLBACK=%q: want %q (a failed soak rolls back) or %q (it only fails)", s.VerifyRollback, RollbackAuto, RollbackOff))
	}
	if s.Base != "" && s.Base != "local" {
		if _, err := name.ParseReference(s.Base); err != nil {
			errs = append(errs, fmt.Errorf("PUBLISH_BASE=%q: want \"local\" (the built-in static base), an image reference, or unset (the base in .ko.yaml)", s.Base))
		}
	}
	if s.LocalRuntime != "process" && s.LocalRuntime != "podman" {
		errs = append(errs, fmt.Errorf("LOCAL_RUNTIME=%q: want \"process\" or \"podman\"", s.LocalRuntime))
	}
	envErrs, warnings := l.checkEnvironments(s, overrides)
	errs = append(errs, envErrs...)
	s.Warnings = append(s.Warnings, warnings...)
	if err := checkAddr(s.RegistryAddr); err != nil {
		errs = append(errs, fmt.Errorf("LOCAL_REGISTRY_ADDR=%q %w", s.RegistryAddr, err))
	} else if s.LocalRegistry() && !loopback.Host(s.RegistryAddr) {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the embedded registry serves on %s (LOCAL_REGISTRY_ADDR), %s: other machines can reach it; to keep it on this one, use %s",
			s.RegistryAddr, interfaces(s.RegistryAddr), onLoopback(s.RegistryAddr)))
	}
	if (s.ArgoServer != "") != (s.ArgoToken != "") {
		errs = append(errs, errors.New("the Argo CD refresh is half configured: set both ARGOCD_SERVER and ARGOCD_AUTH_TOKEN (and ARGOCD_APP, or argocdApp in the environments file), or none"))
	}
	if s.ArgoServer != "" {
		for _, e := range s.Environments {
			ts, _ := s.Targets(e.Name, "")
			if len(ts) > 0 && ts[0].ArgoApp == "" {
				errs = append(errs, fmt.Errorf("ARGOCD_SERVER is set but environment %s names no Argo CD application: set %s (e.g. {service}-%s), or argocdApp in %s", e.Name, ts[0].Var("ARGOCD_APP"), e.Name, EnvironmentsFile))
			}
		}
	}
	return s, errors.Join(errs...)
}

// Without returns environ without the pipeline's settings: every variable
// Load reads, and the per-environment overrides (<VARIABLE>_<ENV>). The
// gate runs the tests with it, so that a deploy job's settings (its
// GITOPS_REPO, GITHUB_ACTIONS=true, a VERIFY_URL) cannot change what a
// test does, and a test that runs a target starts from nothing.
func Without(environ []string) []string {
	s, _ := Load(func(string) (string, bool) { return "", false }, "")
	read := map[string]bool{}
	for _, v := range s.Vars {
		read[v.Name] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if read[name] || slices.ContainsFunc(overridable, func(v string) bool { return strings.HasPrefix(name, v+"_") }) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// SecretNames lists the variables Load treats as secrets, for the callers
// that must keep them from processes that do not need them.
func SecretNames() []string {
	s, _ := Load(func(string) (string, bool) { return "", false }, "")
	var names []string
	for _, v := range s.Vars {
		if v.Secret {
			names = append(names, v.Name)
		}
	}
	return names
}

// Deploys reports whether `mage ci` takes this run's commit live, or runs
// the gate only, and why. Outside GitHub Actions a run deploys (to the local
// loop unless configured otherwise). Inside, a push to DEPLOY_BRANCH and a
// workflow_dispatch deploy; a pull request, a push to another branch or a
// tag, and other events run the gate only.
func (s Settings) Deploys() (bool, string) {
	switch {
	case !s.InActions:
		return true, "run outside GitHub Actions"
	case s.EventName == "push" && s.Ref == "refs/heads/"+s.DeployBranch:
		return true, "push to " + s.DeployBranch
	case s.EventName == "workflow_dispatch":
		return true, "run by hand (workflow_dispatch) on " + strings.TrimPrefix(s.Ref, "refs/heads/")
	case s.EventName == "push":
		return false, fmt.Sprintf("push to %s: gate only; deploys run on pushes to %s", strings.TrimPrefix(s.Ref, "refs/heads/"), s.DeployBranch)
	case s.EventName == "":
		return false, "GITHUB_EVENT_NAME is not set: gate only"
	}
	return false, fmt.Sprintf("%s event: gate only; deploys run on pushes to %s", s.EventName, s.DeployBranch)
}

// loadApp reads the GitHub App settings; its errors never quote the key.
func loadApp(id, key, installation string) (*forge.App, error) {
	appID, err := forge.ParseAppID(id)
	if err != nil {
		return nil, err
	}
	k, err := forge.ParseAppKey(key)
	if err != nil {
		return nil, err
	}
	app := &forge.App{ID: appID, Key: k}
	if installation != "" {
		if app.InstallationID, err = strconv.ParseInt(installation, 10, 64); err != nil || app.InstallationID <= 0 {
			return nil, fmt.Errorf("GITOPS_APP_INSTALLATION_ID=%q is not an installation id: use the number at the end of the installation's settings URL, or unset it to find it from the repository", installation)
		}
	}
	return app, nil
}

// ArgoConfigured reports whether the post-bump Argo CD refresh is on for
// a target.
func (s Settings) ArgoConfigured(t Target) bool {
	return s.ArgoServer != "" && s.ArgoToken != "" && t.ArgoApp != ""
}

// DefaultPath is the manifest of a service in a repository without an
// environments file.
const DefaultPath = "manifests/" + ServicePlaceholder + "/00-deployment.yaml"

// override is one run's value of an environment's field, and the variable
// that set it.
type override struct{ name, value string }

// environments resolves the environments: the file's, when the repository
// has one, completed with defaults, or one made of the settings; and, per
// environment, what <VARIABLE>_<NAME> (VERIFY_URL_PRODUCTION) overrides for
// one run, and for the first the plain variables (VERIFY_URL), as before
// there were environments. Overrides win over a service's service.yaml,
// which wins over the file.
func (l *loader) environments(root string, s Settings) ([]Environment, map[string]map[string]override) {
	plain := map[string]string{}
	for _, v := range overridable {
		def := ""
		if v == "LOCAL_ADDR" {
			def = rollout.DefaultAddr
		}
		plain[v] = l.str(v, def)
	}
	localAddr := plain["LOCAL_ADDR"]
	if v, ok := l.lookup("LOCAL_ADDR"); !ok || v == "" {
		delete(plain, "LOCAL_ADDR")
	}
	branch := bump.DefaultBranch
	if plain["GITOPS_BRANCH"] != "" {
		branch = plain["GITOPS_BRANCH"]
	}
	envs := []Environment{{Name: DefaultEnvironment, Path: DefaultPath, Branch: branch, Container: ServicePlaceholder}}
	if root != "" {
		data, err := os.ReadFile(filepath.Join(root, EnvironmentsFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			l.errs = append(l.errs, fmt.Errorf("read %s: %w", EnvironmentsFile, err))
		default:
			parsed, err := ParseEnvironments(EnvironmentsFile, data)
			if err != nil {
				l.errs = append(l.errs, err)
			} else {
				envs = parsed
			}
		}
	}
	overrides := map[string]map[string]override{}
	for i := range envs {
		e := &envs[i]
		overrides[e.Name] = map[string]override{}
		for _, variable := range overridable {
			name := overrideName(variable, e.Name)
			if v, ok := l.lookup(name); ok && v != "" {
				overrides[e.Name][variable] = override{name, l.str(name, "")}
			} else if i == 0 && plain[variable] != "" {
				overrides[e.Name][variable] = override{variable, plain[variable]}
			}
		}
		if e.Branch == "" {
			e.Branch = branch
		}
		if e.Container == "" {
			e.Container = ServicePlaceholder
		}
		if s.LocalGitops() || s.InActions {
			// The file's address is where the cluster serves the
			// environment. The local loop verifies its own rollout
			// instead, and a hosted runner usually cannot reach a home
			// cluster: in Actions only the workflow's VERIFY_URL counts.
			e.VerifyURL = ""
		}
		switch o, ok := overrides[e.Name]["LOCAL_ADDR"]; {
		case ok:
			e.LocalAddr = o.value
		case e.LocalAddr == "":
			e.LocalAddr = nextPort(localAddr, i)
		}
	}
	return envs, overrides
}

// overridable are the variables an environment's field can be overridden
// with for one run, as <VARIABLE>_<ENV>: the settings declared
// PerEnvironment.
var overridable = func() []string {
	var out []string
	for _, s := range Declared {
		if s.PerEnvironment {
			out = append(out, s.Name)
		}
	}
	return out
}()

// fieldNames are the environments file's names of the overridable fields.
var fieldNames = map[string]string{
	"GITOPS_PATH": "path", "GITOPS_BRANCH": "branch", "GITOPS_CONTAINER": "container",
	"VERIFY_URL": "verifyURL", "ARGOCD_APP": "argocdApp", "LOCAL_ADDR": "localAddr",
}

// nextPort is addr with its port raised by n: the local address of the
// n-th environment when the file gives none.
func nextPort(addr string, n int) string {
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || p == 0 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(p+n))
}

type loader struct {
	lookup func(string) (string, bool)
	vars   []Var
	errs   []error
}

func (l *loader) str(name, def string) string {
	if _, ok := declared(name); !ok && !isOverride(name) {
		panic("config: " + name + " is read but not declared in Declared")
	}
	if v, ok := l.lookup(name); ok && v != "" {
		l.vars = append(l.vars, Var{Name: name, Value: v, Source: FromEnv})
		return v
	}
	src := FromDefault
	if def == "" {
		src = Unset
	}
	l.vars = append(l.vars, Var{Name: name, Value: def, Source: src})
	return def
}

// secret keeps the value exactly as given: a trailing newline in a token is
// a real fault that Load reports, not something to trim away silently.
func (l *loader) secret(name string) string {
	v := l.str(name, "")
	l.vars[len(l.vars)-1].Secret = true
	return v
}

func (l *loader) flag(name string) bool {
	v := l.str(name, "")
	switch strings.ToLower(v) {
	case "", "0", "false", "no":
		return false
	case "1", "true", "yes":
		return true
	}
	l.errs = append(l.errs, fmt.Errorf("%s=%q: want 1 or 0", name, v))
	return false
}

func (l *loader) integer(name string, def int) int {
	v := l.str(name, strconv.Itoa(def))
	n, err := strconv.Atoi(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a whole number such as %d", name, v, def))
		return def
	}
	return n
}

func (l *loader) duration(name string, def time.Duration) time.Duration {
	v := l.str(name, def.String())
	d, err := time.ParseDuration(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a Go duration such as %s", name, v, def))
		return def
	}
	return d
}

// share reads a number from 0 to 1.
func (l *loader) share(name string, def float64) float64 {
	v := l.str(name, strconv.FormatFloat(def, 'f', -1, 64))
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a share from 0 to 1, such as %s (%s%%)", name, v, strconv.FormatFloat(def, 'f', -1, 64), strconv.FormatFloat(100*def, 'f', -1, 64)))
		return def
	}
	return f
}

// Values of VERIFY_ROLLBACK.
const (
	RollbackAuto = "auto"
	RollbackOff  = "off"
)

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isOverride reports whether name is <VARIABLE>_<ENV> of a per-environment
// setting.
func isOverride(name string) bool {
	for _, v := range overridable {
		if strings.HasPrefix(name, v+"_") {
			return true
		}
	}
	return false
}
