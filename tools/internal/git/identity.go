package git

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
)

// CheckName returns why name cannot be the name of a commit's author or
// committer, or nil: git takes it on one line, and < and > would end it.
func CheckName(name string) error {
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "<>") || strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("name %q is not one line of text without < and >, as git writes it in a commit", name)
	}
	return nil
}

// CheckEmail returns why email cannot be the email address of a commit's
// author or committer, or nil: it is an address as name@host, alone.
func CheckEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || strings.ContainsAny(email, " <>") {
		return fmt.Errorf("%q is not an email address: want one as name@host, e.g. release-bot@example.com", email)
	}
	return nil
}
