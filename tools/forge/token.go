package forge

import (
	"fmt"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// MinTokenLen is shorter than any GitHub token: classic and app tokens have
// 40 characters or more, fine-grained ones 93. Anything shorter is a
// placeholder, a truncated paste or the "-" of `gh secret set --body -`.
const MinTokenLen = 20

// TokenKind is what a token is, told by its prefix as GitHub documents them.
type TokenKind int

// Kinds of tokens.
const (
	UnknownToken TokenKind = iota
	ClassicPAT
	FineGrainedPAT
	// InstallationToken is a GitHub App installation token, or the token
	// Actions gives a workflow (GITHUB_TOKEN, also ghs_).
	InstallationToken
	AppUserToken
	OAuthToken
	// HexToken is 40 hexadecimal digits: what Gitea and Forgejo give as
	// an access token, and what GitHub's classic tokens were before 2021.
	// The string alone cannot say which.
	HexToken
)

// KindOf tells what kind of token token is.
func KindOf(token string) TokenKind {
	switch {
	case strings.HasPrefix(token, "ghp_"):
		return ClassicPAT
	case strings.HasPrefix(token, "github_pat_"):
		return FineGrainedPAT
	case strings.HasPrefix(token, "ghs_"):
		return InstallationToken
	case strings.HasPrefix(token, "ghu_"):
		return AppUserToken
	case strings.HasPrefix(token, "gho_"):
		return OAuthToken
	case len(token) == 40 && strings.Trim(token, "0123456789abcdef") == "":
		return HexToken
	}
	return UnknownToken
}

// String names the kind for a person.
func (k TokenKind) String() string {
	switch k {
	case ClassicPAT:
		return "classic personal access token"
	case FineGrainedPAT:
		return "fine-grained personal access token"
	case InstallationToken:
		return "GitHub App installation token (or an Actions GITHUB_TOKEN)"
	case AppUserToken:
		return "GitHub App user token"
	case OAuthToken:
		return "OAuth app token"
	case HexToken:
		return "40-hex-digit token (a Gitea or Forgejo access token, or a GitHub classic token made before 2021)"
	}
	return "token of no known GitHub format"
}

// NoUser reports tokens that no user stands behind: GET /user is not theirs
// to call, and their rights are the installation's.
func (k TokenKind) NoUser() bool { return k == InstallationToken }

// Describe names a token's kind and shows it as messages may (a short
// prefix and its length), which is usually enough to spot the wrong secret.
func Describe(token string) string {
	if token == "" {
		return "no token"
	}
	return fmt.Sprintf("a %s, %s", KindOf(token), secret.Mask(token))
}
