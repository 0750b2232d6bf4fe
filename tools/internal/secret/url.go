package secret

import (
	"net/url"
	"strings"
)

// hidden stands for a URL that cannot be shown without risking what it
// carries.
const hidden = "(a URL with credentials, not shown)"

// URL returns raw, a URL setting or a git remote, as a message, a table or
// a summary may show it: without its user information (a user and password,
// or a token) and with its query (where tokens travel too) cut to "?…".
// A URL that does not parse, or has an '@' where no user information is, is
// not shown at all. Text that is no URL (a path, owner/name) is returned as
// it is; an scp-like git remote loses what precedes its '@'
// (user:token@host:path shows as host:path). Every message that names a URL
// setting (VERIFY_URL, ARGOCD_SERVER, GITHUB_API_URL, GITOPS_REPO…) passes
// it through here.
func URL(raw string) string {
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "":
			if strings.ContainsAny(raw, "@?") {
				return hidden
			}
			return raw
		case u.User == nil && strings.Contains(raw, "@"):
			// An '@' outside the user information: a password with a
			// character that ends the host ("u:p#x@host") parses this way.
			return hidden
		case u.User == nil && u.RawQuery == "" && !u.ForceQuery:
			return raw
		}
		query := u.RawQuery != "" || u.ForceQuery
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		if query {
			return u.String() + "?…"
		}
		return u.String()
	}
	// host:path, user@host:path, a path, owner/name: the user information of
	// an scp-like remote ends at the last '@' before the path.
	head := raw
	if i := strings.IndexByte(raw, '/'); i >= 0 {
		head = raw[:i]
	}
	if at := strings.LastIndexByte(head, '@'); at >= 0 {
		return raw[at+1:]
	}
	return raw
}
