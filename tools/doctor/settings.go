package doctor

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/config"
)

// secretNames are the settings shown only as a prefix and a length.
var secretNames = map[string]bool{"GITOPS_TOKEN": true, "REGISTRY_PASSWORD": true, "ARGOCD_AUTH_TOKEN": true}

// config reports the mode and any error config.Load found.
func (d *doctor) config(context.Context) []Row {
	row := Row{Check: CheckConfig}
	images := d.s.ImageRepo()
	if d.s.LocalRegistry() {
		images = "the embedded registry (" + images + ")"
	}
	bumps := d.s.GitopsTarget()
	switch {
	case d.s.LocalGitops():
		bumps = "the local gitops repository (" + bumps + ")"
	case config.IsGitHubRepo(d.s.GitopsRepo):
		bumps = d.s.GitopsRepo + " through " + redactURL(d.s.GitHubAPIURL)
	default:
		bumps = redactURL(bumps)
	}
	row.Found = fmt.Sprintf("mode %s: images to %s, bumps to %s", d.s.Mode(), images, bumps)
	if d.opts.ConfigErr != nil {
		row.Status = Fail
		row.Found = strings.ReplaceAll(d.opts.ConfigErr.Error(), "\n", "; ")
		row.Fix = "set the variables as the message says"
	}
	return []Row{row}
}

// settingsTable lists every variable config reads, with its value and where
// it came from.
func settingsTable(s config.Settings) []Setting {
	var out []Setting
	for _, n := range s.Names() {
		out = append(out, Setting{Name: n, Value: settingValue(s, n), Source: s.Sources[n]})
	}
	return out
}

func settingValue(s config.Settings, name string) string {
	if secretNames[name] {
		return mask(secretValue(s, name))
	}
	var v string
	switch name {
	case "PIPELINE_STATE_DIR":
		v = s.StateDir
	case "GITHUB_ACTIONS":
		v = strconv.FormatBool(s.InActions)
	case "GITHUB_SHA":
		v = s.GitHubSHA
	case "GITHUB_REPOSITORY":
		v = s.SourceRepo
	case "GITHUB_STEP_SUMMARY":
		v = s.StepSummary
	case "GITHUB_SERVER_URL":
		v = strings.TrimSuffix(s.SourceURL, "/"+s.SourceRepo)
	case "KO_DOCKER_REPO":
		v = s.Registry
	case "LOCAL_REGISTRY_ADDR":
		v = s.RegistryAddr
	case "REGISTRY_USERNAME":
		v = s.RegistryUsername
	case "PLATFORMS":
		v = strings.Join(s.Platforms, ",")
	case "PUBLISH_BASE":
		v = s.Base
	case "GITOPS_REPO":
		v = s.GitopsRepo
	case "GITOPS_PATH":
		v = s.GitopsPath
	case "GITOPS_BRANCH":
		v = s.GitopsBranch
	case "GITOPS_CONTAINER":
		v = s.GitopsContainer
	case "GITHUB_API_URL":
		v = s.GitHubAPIURL
	case "BUMP_FORCE":
		v = strconv.FormatBool(s.BumpForce)
	case "BUMP_DRY_RUN":
		v = strconv.FormatBool(s.BumpDryRun)
	case "VERIFY_URL":
		v = s.VerifyURL
	case "VERIFY_CONSECUTIVE":
		v = strconv.Itoa(s.VerifyConsecutive)
	case "VERIFY_INTERVAL":
		v = s.VerifyInterval.String()
	case "VERIFY_TIMEOUT":
		v = s.VerifyTimeout.String()
	case "ARGOCD_SERVER":
		v = s.ArgoServer
	case "ARGOCD_APP":
		v = s.ArgoApp
	case "LOCAL_ADDR":
		v = s.LocalAddr
	case "LOCAL_RUNTIME":
		v = s.LocalRuntime
	default:
		// A variable added to config but not here: say so rather than guess
		// whether its value is safe to show.
		return "(not shown)"
	}
	if v == "" {
		return "(unset)"
	}
	return redactURL(v)
}

func secretValue(s config.Settings, name string) string {
	switch name {
	case "GITOPS_TOKEN":
		return s.GitopsToken
	case "REGISTRY_PASSWORD":
		return s.RegistryPassword
	}
	return s.ArgoToken
}

// redactURL hides the user information of a URL, where a token may be
// written (https://x-access-token:TOKEN@github.com/...). Other text is
// returned as is.
func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// An unparsable URL with an @ may still hold credentials.
		return "(a URL with credentials, not shown)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	return u.String()
}
