package bump

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// secretForms returns the token as it can appear in output: as is, and
// inside a basic-auth header.
func secretForms(token string) []string {
	if token == "" {
		return nil
	}
	return []string{
		base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token)),
		token,
	}
}

// userinfo matches the password part of a URL ("https://user:secret@host").
var userinfo = regexp.MustCompile(`(://[^/@:\s]*):[^/@\s]+@`)

// redact removes the token (and URL passwords) from s.
func redact(s, token string) string {
	for _, f := range secretForms(token) {
		s = strings.ReplaceAll(s, f, "***")
	}
	return userinfo.ReplaceAllString(s, "$1:***@")
}

// redactErr returns err unchanged unless its text holds a secret, in which
// case the text is scrubbed; errors.Is still sees the sentinel errors.
func redactErr(err error, token string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := redact(msg, token)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Is reports sentinel matches without exposing the unredacted chain.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// describeToken names the kind of token and its length, which is all that
// may be shown of it and usually enough to spot the wrong secret.
func describeToken(token string) string {
	kind := "a token of unrecognised format"
	switch {
	case token == "":
		return "no token"
	case strings.HasPrefix(token, "github_pat_"):
		kind = "a fine-grained personal access token (github_pat_)"
	case strings.HasPrefix(token, "ghp_"):
		kind = "a classic personal access token (ghp_)"
	case strings.HasPrefix(token, "ghs_"):
		kind = "a GitHub Actions or app installation token (ghs_)"
	case strings.HasPrefix(token, "gho_"):
		kind = "an OAuth token (gho_)"
	}
	return fmt.Sprintf("%s, %d characters", kind, len(token))
}

// displayRemote strips credentials from a remote for messages.
func displayRemote(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil {
		return remote
	}
	u.User = nil
	return u.String()
}
