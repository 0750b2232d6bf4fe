package bump

import (
	"encoding/base64"
	"errors"
	"regexp"

	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
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

// redact removes the token (and URL passwords) from s. A value too short
// to be a secret is left alone: replacing it would rewrite the message.
func redact(s, token string) string {
	s = secret.Redact(s, secretForms(token)...)
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
