// Package secret says what may be shown of a secret, and refuses values
// that cannot be a real secret before anything is sent with them.
//
// The pipeline's worst failures came from secrets that were set but wrong:
// `gh secret set NAME --body -` stores the one-character string "-", `echo
// "$TOKEN" | gh secret set NAME` stores a trailing newline, and a value
// pasted with its quotes keeps them. Each reaches the server as a credential
// and comes back as a bare 401. Check names each of them, with its fix,
// before the first request.
package secret

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// MinRedact is the shortest value Redact replaces: a shorter one says
// nothing secret (and Check refuses it), while replacing it would rewrite
// the rest of the text, as replacing every "-" in a message would.
const MinRedact = 8

// Rule says what a real value of one secret looks like.
type Rule struct {
	// Name is the setting, e.g. GITOPS_TOKEN.
	Name string
	// MinLen is shorter than any real value: GitHub tokens have 40 or more
	// characters, Argo CD's are JWTs of a few hundred.
	MinLen int
	// Repo is the repository whose Actions secrets hold the value, for the
	// fix; empty gives a fix without -R.
	Repo string
}

// Check returns an error that names what is wrong with value and how to
// store it correctly, or nil when it may be real. An empty value is not
// checked here: whether a secret is needed depends on what runs.
func (r Rule) Check(value string) error {
	trimmed := strings.TrimSpace(value)
	switch {
	case value == "":
		return nil
	case trimmed == "-":
		return r.fail("%s is the literal %q (%s): `gh secret set %s --body -` stores the string \"-\"; it does not read standard input. %s",
			r.Name, value, characters(len(value)), r.Name, r.SetFix())
	case strings.HasSuffix(value, "\n"):
		return r.fail("%s %s ends with a newline: `echo \"$VALUE\" | gh secret set %s` keeps it, and the server rejects the value with it. %s",
			r.Name, Mask(value), r.Name, r.SetFix())
	case trimmed != value:
		return r.fail("%s %s %s, which is not part of any real value: copy it again without. %s",
			r.Name, Mask(value), describeSpace(value), r.SetFix())
	case quoted(value):
		return r.fail("%s %s is wrapped in quotes, which are not part of it: store the value without them. %s",
			r.Name, Mask(value), r.SetFix())
	case strings.ContainsFunc(value, unicode.IsSpace):
		return r.fail("%s %s contains whitespace, so it is not one value: copy it again. %s", r.Name, Mask(value), r.SetFix())
	case len(value) < r.MinLen:
		return r.fail("%s %s is too short to be real (at least %d characters): a placeholder, a truncated paste, or `gh secret set %s --body -`, which stores \"-\". %s",
			r.Name, Mask(value), r.MinLen, r.Name, r.SetFix())
	}
	return nil
}

// Error is a value that cannot be a real secret.
type Error struct {
	// Name is the setting, e.g. GITOPS_TOKEN.
	Name string
	msg  string
}

func (e *Error) Error() string { return e.msg }

func (r Rule) fail(format string, args ...any) error {
	return &Error{Name: r.Name, msg: fmt.Sprintf(format, args...)}
}

// SetFix says how to store the secret in GitHub Actions, or a shell,
// without the mistakes Check names.
func (r Rule) SetFix() string {
	repo := ""
	if r.Repo != "" {
		repo = " -R " + r.Repo
	}
	return fmt.Sprintf("Set it from standard input with no trailing newline: printf '%%s' \"$VALUE\" | gh secret set %s%s (in a shell: read -rs %s && export %s)",
		r.Name, repo, r.Name, r.Name)
}

// Mask shows a secret as messages may: a prefix of at most four
// characters, never more than a quarter of it, and its length.
func Mask(s string) string {
	switch {
	case s == "":
		return "(unset)"
	case strings.TrimSpace(s) == "-":
		// Not a secret, but the trap Check exists to name.
		return fmt.Sprintf("%q (%s)", s, characters(len(s)))
	}
	n := min(4, len(s)/4)
	prefix := strconv.Quote(s[:n])
	return fmt.Sprintf("%s… (%s)", prefix[1:len(prefix)-1], characters(len(s)))
}

// Redact replaces each secret of at least MinRedact characters in s, and
// its whitespace-trimmed form, with "[redacted]".
func Redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		for _, v := range []string{strings.TrimSpace(secret), secret} {
			if len(v) >= MinRedact {
				s = strings.ReplaceAll(s, v, "[redacted]")
			}
		}
	}
	return s
}

func characters(n int) string {
	if n == 1 {
		return "1 character"
	}
	return fmt.Sprintf("%d characters", n)
}

// describeSpace names the whitespace around a value.
func describeSpace(s string) string {
	if strings.TrimRightFunc(s, unicode.IsSpace) != s {
		return "ends with whitespace"
	}
	return "starts with whitespace"
}

func quoted(s string) bool {
	return len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'')
}
