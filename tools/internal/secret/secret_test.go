package secret

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	r := Rule{Name: "GITOPS_TOKEN", MinLen: 20, Repo: "o/r"}
	const fix = `printf '%s' "$VALUE" | gh secret set GITOPS_TOKEN -R o/r`
	const real = "ghp_SENTINEL1234567890abcdefghijklmnopqr"
	tests := []struct {
		name, value string
		want        []string // empty: accepted
	}{
		{"unset is for the caller to judge", "", nil},
		{"real", real, nil},
		{"dash", "-", []string{`GITOPS_TOKEN is the literal "-" (1 character)`, "`gh secret set GITOPS_TOKEN --body -` stores", fix}},
		{"dash with newline", "-\n", []string{`the literal "-\n" (2 characters)`, fix}},
		{"newline", real + "\n", []string{"ends with a newline", "`echo", fix}},
		{"leading space", " " + real, []string{"starts with whitespace", fix}},
		{"trailing tab", real + "\t", []string{"ends with whitespace", fix}},
		{"double quotes", `"` + real + `"`, []string{"wrapped in quotes", fix}},
		{"single quotes", "'" + real + "'", []string{"wrapped in quotes", fix}},
		{"space inside", "ghp_SENTINEL 1234567890abcdefghijklmnopqr", []string{"contains whitespace", fix}},
		{"placeholder", "changeme", []string{"ch… (8 characters) is too short to be real (at least 20 characters)", fix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Check(tt.value)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.value, err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || se.Name != "GITOPS_TOKEN" {
				t.Fatalf("Check(%q) = %v, want a *secret.Error naming GITOPS_TOKEN", tt.value, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check(%q) = %q, want it to contain %q", tt.value, err, w)
				}
			}
			if len(tt.value) >= MinRedact && strings.Contains(err.Error(), strings.TrimSpace(strings.Trim(tt.value, `"'`))) {
				t.Errorf("Check(%q) shows the value: %q", tt.value, err)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "(unset)"},
		{"-", `"-" (1 character)`},
		{"abc", "… (3 characters)"},
		{"ghp_SENTINEL1234567890abcdefghijklmnopqr", "ghp_… (40 characters)"},
		{"a\nbcdefgh", `a\n… (9 characters)`},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRedactLeavesShortValues guards messages from the `--body -` trap:
// replacing every "-" of a message would garble the very fix it gives.
func TestRedactLeavesShortValues(t *testing.T) {
	const msg = "read o/gitops-repo: set it with `gh secret set NAME` (not --body -)"
	if got := Redact(msg, "-", "short"); got != msg {
		t.Errorf("Redact(msg, short values) = %q, want the message unchanged", got)
	}
	const token = "ghp_SENTINEL1234567890abcdefghijklmnopqr"
	if got, want := Redact("Bearer "+token+" and "+token+"\n", token+"\n"), "Bearer [redacted] and [redacted]\n"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}
