// Package excerpt quotes the start of an HTTP answer's body for an error
// message, so that a user sees what the server said without a page of HTML.
package excerpt

import (
	"fmt"
	"strings"
)

// Limit is how many characters of a body are quoted.
const Limit = 120

// Of returns ": \"<start of body>\"" on one line, or "" for an empty body.
func Of(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return ""
	}
	if len(s) > Limit {
		s = s[:Limit] + "..."
	}
	return fmt.Sprintf(": %q", s)
}
