package forge

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v62/github"
)

// App is a GitHub App the pipeline acts as: it mints, for each bump, an
// installation token restricted to the one gitops repository and to the
// permissions the bump needs, valid for an hour. Organisations that block
// long-lived personal tokens allow Apps: they are installed per repository,
// their permissions are declared, and their commits are signed by GitHub.
type App struct {
	// ID is the App's id (GITOPS_APP_ID), shown on its settings page.
	ID int64
	// Key is the App's private key (GITOPS_APP_PRIVATE_KEY).
	Key *rsa.PrivateKey
	// InstallationID is the installation on the gitops repository's owner;
	// zero finds it from the repository (GITOPS_APP_INSTALLATION_ID).
	InstallationID int64
}

// Permissions an installation token is minted with, as GitHub names them.
type Permissions struct {
	// Contents is "read" or "write".
	Contents string
	// PullRequests is "", "read" or "write".
	PullRequests string
}

// ParseAppID reads GITOPS_APP_ID.
func ParseAppID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("GITOPS_APP_ID=%q is not an App id: use the number shown as \"App ID\" on the App's settings page (not its client ID, which starts with Iv)", s)
	}
	return id, nil
}

// ParseAppKey reads GITOPS_APP_PRIVATE_KEY: the PEM text of the private key
// GitHub generated for the App, or the path of a file holding it. Its error
// never quotes the value.
func ParseAppKey(value string) (*rsa.PrivateKey, error) {
	pem := value
	if !strings.Contains(value, "-----BEGIN") {
		b, err := os.ReadFile(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("GITOPS_APP_PRIVATE_KEY is neither a PEM private key (-----BEGIN RSA PRIVATE KEY-----) nor a readable file (%d characters): store the whole .pem file GitHub gave for the App, from standard input: gh secret set GITOPS_APP_PRIVATE_KEY < app.private-key.pem", len(value))
		}
		pem = string(b)
	}
	// A key pasted into a one-line secret sometimes keeps its newlines as
	// the two characters \n.
	pem = strings.ReplaceAll(pem, `\n`, "\n")
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(pem))
	if err != nil {
		return nil, fmt.Errorf("GITOPS_APP_PRIVATE_KEY does not hold an RSA private key in PEM form (%v): generate a key on the App's settings page and store the .pem file whole: gh secret set GITOPS_APP_PRIVATE_KEY < app.private-key.pem", err)
	}
	return key, nil
}

// JWT signs the token that authenticates as the App itself, for the calls
// that find an installation and mint its tokens. It is backdated a minute
// for clocks that run ahead of GitHub's, and lives nine minutes, under
// GitHub's limit of ten.
func (a App) JWT(now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.ID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.Key)
}

// Token is an installation token and when it expires.
type Token struct {
	Value   string
	Expires time.Time
	// InstallationID is the installation that minted it.
	InstallationID int64
}

// InstallationToken mints a token for repo ("owner/name") alone, with
// perms, through the API at apiURL. Its errors say what is wrong with the
// App, its key, its installation or this machine's clock, and how to fix it.
func (a App) InstallationToken(ctx context.Context, apiURL, repo string, perms Permissions, hc *http.Client) (Token, error) {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	jwt, err := a.JWT(time.Now())
	if err != nil {
		return Token{}, fmt.Errorf("sign the GitHub App's token: %w", err)
	}
	client, err := NewClient(apiURL, jwt, hc)
	if err != nil {
		return Token{}, err
	}
	owner, name, _ := strings.Cut(repo, "/")
	id := a.InstallationID
	if id == 0 {
		inst, _, err := client.Apps.FindRepositoryInstallation(ctx, owner, name)
		if err != nil {
			return Token{}, a.explain("find the App's installation on "+repo, apiURL, repo, err)
		}
		id = inst.GetID()
	}
	opts := &github.InstallationTokenOptions{
		Repositories: []string{name},
		Permissions:  &github.InstallationPermissions{Contents: github.String(perms.Contents)},
	}
	if perms.PullRequests != "" {
		opts.Permissions.PullRequests = github.String(perms.PullRequests)
	}
	tok, _, err := client.Apps.CreateInstallationToken(ctx, id, opts)
	if err != nil {
		return Token{}, a.explain(fmt.Sprintf("mint an installation token for %s (installation %d)", repo, id), apiURL, repo, err)
	}
	return Token{Value: tok.GetToken(), Expires: tok.GetExpiresAt().Time, InstallationID: id}, nil
}

// AppError is a failure of the App's own calls: what was done, what the
// host answered, and what to fix.
type AppError struct {
	// Op is what was done, e.g. "find the App's installation on o/r".
	Op string
	// Answer is what the host said, or why it said nothing.
	Answer string
	// Fix says what to do.
	Fix string
}

func (e *AppError) Error() string {
	return fmt.Sprintf("GitHub App: %s: %s: %s", e.Op, e.Answer, e.Fix)
}

// explain names what an answer to the App's own calls means.
func (a App) explain(op, apiURL, repo string, err error) error {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		p := Explain(err, Context{Repo: repo, App: true, API: apiURL})
		return &AppError{Op: op, Answer: p.Cause, Fix: p.Fix}
	}
	msg := er.Message
	lower := strings.ToLower(msg)
	var fix string
	switch status := er.Response.StatusCode; {
	case strings.Contains(lower, "could not be decoded"):
		fix = fmt.Sprintf("GitHub could not verify the App's token: GITOPS_APP_PRIVATE_KEY is not a key of App %d (a key of another App, or one deleted on the App's settings page); generate a key there and store it", a.ID)
	case strings.Contains(lower, "'exp'") || strings.Contains(lower, "'iat'") || strings.Contains(lower, "expiration time") || strings.Contains(lower, "issued at"):
		fix = "this machine's clock disagrees with GitHub's by more than a minute: sync it (NTP), then run again"
	case strings.Contains(lower, "integration not found"):
		fix = fmt.Sprintf("no App has the id %d on this host: check GITOPS_APP_ID (the App ID on the App's settings page; GitHub Enterprise Apps have ids of their own)", a.ID)
	case status == http.StatusNotFound && strings.Contains(op, "find the App's installation"):
		fix = fmt.Sprintf("App %d is not installed on %s: install it (App settings → Install App), choosing \"Only select repositories\" and the gitops repository", a.ID, repo)
	case status == http.StatusNotFound:
		fix = "the installation does not exist or belongs to another App: unset GITOPS_APP_INSTALLATION_ID to find it from the repository"
	case status == http.StatusUnprocessableEntity:
		fix = fmt.Sprintf("the installation does not include %s, or the App lacks the permissions asked for: add the repository to the installation, and give the App Contents: Read and write (and Pull requests: Read and write for BUMP_MODE=pr)", repo)
	case status == http.StatusForbidden:
		fix = "the App may not be given these permissions: give it Contents: Read and write (and Pull requests: Read and write for BUMP_MODE=pr) and accept the new permissions on the installation"
	default:
		fix = "check GITOPS_APP_ID, GITOPS_APP_PRIVATE_KEY and GITHUB_API_URL"
	}
	return &AppError{Op: op, Answer: fmt.Sprintf("%d %s", er.Response.StatusCode, msg), Fix: fix}
}
