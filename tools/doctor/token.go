package doctor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/andrelair-platform/platform-demo/tools/config"
)

// minTokenLen is shorter than any GitHub token: classic and app tokens have
// 40 characters, fine-grained ones 93. Anything shorter is a placeholder, a
// truncated paste or the "-" that `gh secret set --body -` stores.
const minTokenLen = 20

// tokenKind describes a GitHub token by its prefix, as GitHub documents them.
type tokenKind struct {
	name string
	// app is true for tokens of a GitHub App or of Actions, which have no
	// user behind them: GET /user is not theirs to call.
	app bool
}

func kindOf(token string) tokenKind {
	switch {
	case strings.HasPrefix(token, "ghp_"):
		return tokenKind{name: "classic PAT"}
	case strings.HasPrefix(token, "github_pat_"):
		return tokenKind{name: "fine-grained PAT"}
	case strings.HasPrefix(token, "ghs_"):
		return tokenKind{name: "GitHub App installation or Actions token", app: true}
	case strings.HasPrefix(token, "ghu_"):
		return tokenKind{name: "GitHub App user token"}
	case strings.HasPrefix(token, "gho_"):
		return tokenKind{name: "OAuth app token"}
	case len(token) == 40 && strings.Trim(token, "0123456789abcdef") == "":
		return tokenKind{name: "classic PAT (old format)"}
	}
	return tokenKind{}
}

// mask shows a secret as the report may: a prefix of at most four
// characters, never more than a quarter of it, and its length.
func mask(secret string) string {
	switch {
	case secret == "":
		return "(unset)"
	case strings.TrimSpace(secret) == "-":
		// Not a secret but the trap this report exists to name.
		return fmt.Sprintf("%q (%s)", secret, characters(len(secret)))
	}
	n := min(4, len(secret)/4)
	prefix := strconv.Quote(secret[:n])
	prefix = prefix[1 : len(prefix)-1]
	return fmt.Sprintf("%s… (%s)", prefix, characters(len(secret)))
}

func characters(n int) string {
	if n == 1 {
		return "1 character"
	}
	return fmt.Sprintf("%d characters", n)
}

// redact removes every secret of a useful length from s, in case a server
// or a library echoed one back. Shorter values ("-") say nothing secret and
// would mangle the text.
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		for _, v := range []string{secret, strings.TrimSpace(secret)} {
			if len(v) >= 8 {
				s = strings.ReplaceAll(s, v, "[redacted]")
			}
		}
	}
	return s
}

// githubGitops reports whether bumps go through the GitHub API, the only
// path that uses GITOPS_TOKEN; otherwise it says why the token is not needed.
func githubGitops(s config.Settings) (bool, string) {
	switch {
	case s.LocalGitops():
		return false, "local mode: not needed (bumps go to the local gitops repository)"
	case !config.IsGitHubRepo(s.GitopsRepo):
		return false, "not needed: GITOPS_REPO is a git repository, not a GitHub owner/name"
	}
	return true, ""
}

// setSecretFix is the right way to store the token as an Actions secret.
func setSecretFix(s config.Settings) string {
	return "set it from standard input, with no trailing newline:\n" +
		"    printf '%s' \"$TOKEN\" | gh secret set GITOPS_TOKEN -R " + s.SourceRepo + "\n" +
		"or, in a local shell: read -rs GITOPS_TOKEN && export GITOPS_TOKEN"
}

// tokenShape checks GITOPS_TOKEN without sending it anywhere.
func (d *doctor) tokenShape(context.Context) []Row {
	row := Row{Check: CheckToken}
	if ok, why := githubGitops(d.s); !ok {
		row.Found = why
		return []Row{row}
	}
	token := d.s.GitopsToken
	trimmed := strings.TrimSpace(token)
	switch {
	case token == "":
		row.Status = Fail
		row.Found = "unset: the bump cannot write to " + d.s.GitopsRepo
		row.Fix = "create a classic PAT with the `repo` scope (docs/runbook.md, step 2), then " + setSecretFix(d.s)
		return []Row{row}
	case trimmed == "-":
		row.Status = Fail
		row.Found = `the literal "-" (1 character): every API call would authenticate with the password "-"`
		row.Fix = "`gh secret set GITOPS_TOKEN --body -` stores the one-character string \"-\"; it does not read standard input.\n" + setSecretFix(d.s)
		return []Row{row}
	case len(trimmed) < minTokenLen:
		row.Status = Fail
		row.Found = mask(token) + ": too short for a GitHub token (classic tokens have 40 characters)"
		row.Fix = "a placeholder, a truncated paste, or `gh secret set --body -`, which stores \"-\" instead of reading standard input.\n" + setSecretFix(d.s)
		return []Row{row}
	case trimmed != token:
		row.Status = Fail
		row.Found = mask(token) + ": " + describeSpace(token)
		row.Fix = "`echo \"$TOKEN\" | gh secret set …` keeps the newline, and GitHub rejects the token with it.\n" + setSecretFix(d.s)
		return []Row{row}
	case strings.ContainsFunc(token, unicode.IsSpace):
		row.Status = Fail
		row.Found = mask(token) + ": contains whitespace, so it is not one token"
		row.Fix = "copy the token again from GitHub, then " + setSecretFix(d.s)
		return []Row{row}
	}
	kind := kindOf(token)
	switch {
	case kind.name == "":
		row.Status = Warn
		row.Found = mask(token) + ": not a known GitHub token prefix (ghp_, github_pat_, ghs_, ghu_, gho_)"
		row.Fix = "use a classic PAT with the `repo` scope (docs/runbook.md, step 2)"
	case kind.app:
		row.Status = Warn
		row.Found = fmt.Sprintf("%s, %s", kind.name, mask(token))
		row.Fix = "the workflow's own GITHUB_TOKEN cannot write another repository; an app token works only if the app is installed on " +
			d.s.GitopsRepo + " with Contents: write. A classic PAT with `repo` scope always works (docs/runbook.md, step 2)"
	default:
		row.Found = fmt.Sprintf("%s, %s", kind.name, mask(token))
	}
	return []Row{row}
}

// describeSpace names the whitespace around a token.
func describeSpace(token string) string {
	switch {
	case strings.HasSuffix(token, "\n") || strings.HasSuffix(token, "\r\n"):
		return "ends with a newline"
	case strings.TrimRightFunc(token, unicode.IsSpace) != token:
		return "ends with whitespace"
	}
	return "starts with whitespace"
}
