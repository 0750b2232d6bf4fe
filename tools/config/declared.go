package config

import (
	"fmt"
	"strings"
)

// Setting is one environment variable of the pipeline, declared once: its
// name, its default as a person reads it, whether it is a secret, and one
// line of help. Load reads declared variables only; the README's settings
// table (Table) and doctor's rows come from this declaration.
type Setting struct {
	// Name is the variable, e.g. GITOPS_REPO.
	Name string
	// Default says what applies when it is unset, for a person.
	Default string
	// Secret values are never printed: doctor shows a prefix and a length,
	// and the gate keeps them from the tests.
	Secret bool
	// PerEnvironment settings take <NAME>_<ENV> for one environment
	// (VERIFY_URL_PRODUCTION), and {service} where a service's name goes.
	PerEnvironment bool
	// Actions marks the variables GitHub Actions sets itself.
	Actions bool
	// Help says what it does, in one line.
	Help string
}

// Declared are the pipeline's settings, in the order the README lists them.
var Declared = []Setting{
	{Name: "KO_DOCKER_REPO", Default: "unset: the embedded registry; in Actions `ghcr.io/<owner>` in lower case", Help: "the prefix of the image repositories: each service pushes to `<prefix>/<service>`, as ko names images"},
	{Name: "REGISTRY_USERNAME", Default: "unset: the Docker config keychain", Help: "the registry login of publish, status and rollback (in Actions: `github.actor`)"},
	{Name: "REGISTRY_PASSWORD", Default: "unset", Secret: true, Help: "its password (in Actions: the job's `GITHUB_TOKEN`)"},
	{Name: "PLATFORMS", Default: "`.ko.yaml`'s, else `linux/amd64`", Help: "the image platforms; `linux/amd64,linux/arm64` builds an index"},
	{Name: "PUBLISH_BASE", Default: "unset: the distroless base of `.ko.yaml`; `local` when the registry is embedded", Help: "`local` builds a minimal static non-root base in process; or an image reference"},
	{Name: "KO_CONFIG_PATH", Default: "`.ko.yaml` at the root", Help: "the build settings"},
	{Name: "GITOPS_REPO", Default: "unset: `.state/gitops.git`, seeded from `gitops/`", Help: "`owner/name` writes through the Contents API; a URL or a path (`/srv/gitops.git`, `./gitops.git`) with git"},
	{Name: "GITOPS_APP_ID", Default: "unset", Help: "a GitHub App whose one-hour installation tokens, scoped to the gitops repository, write it instead of `GITOPS_TOKEN`"},
	{Name: "GITOPS_APP_PRIVATE_KEY", Default: "unset", Secret: true, Help: "the App's private key: PEM text or a path"},
	{Name: "GITOPS_APP_INSTALLATION_ID", Default: "unset: found from the repository", Help: "the App's installation on the gitops repository"},
	{Name: "GITOPS_TOKEN", Default: "unset", Secret: true, Help: "a token sent explicitly: bearer for the API, basic auth for HTTPS git"},
	{Name: "GITHUB_API_URL", Default: "`https://api.github.com/`", Help: "the API root as given (GitHub Enterprise, Gitea, Forgejo)"},
	{Name: "GITOPS_PATH", Default: "the environment's `path` (`gitops/environments.yaml`), else `manifests/{service}/00-deployment.yaml`", PerEnvironment: true, Help: "the manifest the bump edits: relative to the gitops repository's root and inside it (no `..`, no leading `/`, nothing under `.git`)"},
	{Name: "GITOPS_BRANCH", Default: "the environment's `branch`, else `main`", PerEnvironment: true, Help: "the gitops branch, a name git accepts for a branch"},
	{Name: "GITOPS_CONTAINER", Default: "the service's `container` (`service.yaml`), else the environment's, else `{service}`", PerEnvironment: true, Help: "the container whose image the bump sets"},
	{Name: "BUMP_MODE", Default: "`push`", Help: "`pr` commits to `bump/<env>/<container>-<sha>` and opens a pull request (protected branches)"},
	{Name: "BUMP_MERGE", Default: "`0`", Help: "`1` merges the bump's pull request once the host allows it"},
	{Name: "BUMP_MERGE_TIMEOUT", Default: "`10m`", Help: "how long `BUMP_MERGE=1` waits for the merge"},
	{Name: "BUMP_MESSAGE", Default: "`ci(<container>): <action> <sha>` with trailers", Help: "the gitops commit message's subject and body, a Go template (docs/bump.md); the bump's trailers (`Source-Commit`, `Image`, …) always follow as the last paragraph; a blank one is refused"},
	{Name: "BUMP_AUTHOR_NAME", Default: "the App's bot on the API; `platform-demo-bot` with git", Help: "the gitops commits' author, a name on one line"},
	{Name: "BUMP_AUTHOR_EMAIL", Default: "likewise", Help: "the gitops commits' author's email, `name@host`"},
	{Name: "BUMP_FORCE", Default: "`0`", Help: "`1` puts an older commit over a newer one"},
	{Name: "BUMP_DRY_RUN", Default: "`0`", Help: "`1` prints the diff and writes nothing"},
	{Name: "VERIFY_URL", Default: "unset: the local rollout in local mode; verify is skipped in Actions", PerEnvironment: true, Help: "the service's base URL, e.g. `http://{service}.example`"},
	{Name: "VERIFY_CONSECUTIVE", Default: "`3`", Help: "how many answers in a row verify wants from the new commit"},
	{Name: "VERIFY_INTERVAL", Default: "`2s` (`200ms` locally)", Help: "how often verify asks"},
	{Name: "VERIFY_SOAK", Default: "`60s` (`3s` locally)", Help: "how long verify watches a version once it answers (docs/verify.md); `0` turns the soak off"},
	{Name: "VERIFY_SOAK_INTERVAL", Default: "`1s` (`50ms` locally)", Help: "how often the soak probes the service's probe paths, `/version` and `/readyz`"},
	{Name: "VERIFY_MAX_ERROR_RATE", Default: "`0.01`", Help: "the share of answers >= 500 (probes, and the service's own counters) the soak allows; two failures at least fail it"},
	{Name: "VERIFY_ROLLBACK", Default: "`auto`", Help: "`auto` puts the image from before back when the soak fails; `off` only fails"},
	{Name: "VERIFY_TIMEOUT", Default: "`10m`", Help: "how long verify waits; promote checks the previous environment within min(this, 30s)"},
	{Name: "ARGOCD_SERVER", Default: "unset: Argo CD finds the bump on its own poll (~3 min)", Help: "refresh right after the bump; status reads sync and health"},
	{Name: "ARGOCD_AUTH_TOKEN", Default: "unset", Secret: true, Help: "Argo CD's API token"},
	{Name: "ARGOCD_APP", Default: "the environment's `argocdApp`", PerEnvironment: true, Help: "the Argo CD Application of a service in an environment, e.g. `{service}-production`"},
	{Name: "DEPLOY_BRANCH", Default: "`main`", Help: "pushes to this branch deploy; other events run the gate only"},
	{Name: "LOCAL_REGISTRY_ADDR", Default: "`127.0.0.1:5055`", Help: "the embedded registry; one that is not loopback serves other machines too, and every target warns about it"},
	{Name: "LOCAL_ADDR", Default: "`127.0.0.1:8080`; the n-th environment on its port + n, the k-th service 10·k further", PerEnvironment: true, Help: "where the local loop serves the first environment of the first service: `host:port` with an IP address; one that is not loopback (`0.0.0.0:8080`) serves other machines too, and every target warns about it"},
	{Name: "LOCAL_RUNTIME", Default: "`process`", Help: "`podman` runs each Deployment with `podman kube play` instead of a host process"},
	{Name: "PIPELINE_STATE_DIR", Default: "`.state`", Help: "local state: registry storage, gitops repository, rollouts, summaries; relative to the root"},
	{Name: "GITHUB_ACTIONS", Actions: true, Help: "`true` inside GitHub Actions"},
	{Name: "GITHUB_SHA", Actions: true, Help: "the commit the workflow builds"},
	{Name: "GITHUB_REPOSITORY", Default: "`andrelair-platform/platform-demo`", Actions: true, Help: "this repository, owner/name"},
	{Name: "GITHUB_SERVER_URL", Default: "`https://github.com`", Actions: true, Help: "the host of this repository"},
	{Name: "GITHUB_RUN_ID", Actions: true, Help: "the workflow run, for the pull request's and the summary's links"},
	{Name: "GITHUB_STEP_SUMMARY", Actions: true, Help: "the file Actions renders under the run"},
	{Name: "GITHUB_OUTPUT", Actions: true, Help: "the file Actions reads step outputs from"},
	{Name: "GITHUB_EVENT_NAME", Actions: true, Help: "the event that started the workflow"},
	{Name: "GITHUB_REF", Actions: true, Help: "the ref the workflow runs on"},
}

// declared returns the declaration of name.
func declared(name string) (Setting, bool) {
	for _, s := range Declared {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// Table renders the settings a person sets as the README's Markdown table.
func Table() string {
	var b strings.Builder
	b.WriteString("| variable | default | what it does |\n|---|---|---|\n")
	for _, s := range Declared {
		if s.Actions {
			continue
		}
		name := "`" + s.Name + "`"
		if s.PerEnvironment {
			name += ", `" + s.Name + "_<ENV>`"
		}
		help := s.Help
		if s.Secret {
			help += " (a secret: never printed)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, s.Default, help)
	}
	return b.String()
}
