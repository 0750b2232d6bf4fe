// Package forge speaks to the host of the gitops repository: GitHub, GitHub
// Enterprise, or a host that serves GitHub's REST API under its own path
// (Gitea, Forgejo). It owns what the pipeline knows about those hosts: the
// client, which sends a token to the API host and nowhere else; what kind of
// token a string is; GitHub App installation tokens; and what an answer of
// the host means, with its fix. The bump and doctor both ask it, so they
// never disagree about a token or an answer.
package forge

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// DefaultAPIURL is github.com's REST API root.
const DefaultAPIURL = "https://api.github.com/"

// NewClient returns a go-github client for the API root apiURL, used as
// given (GitHub Enterprise and Gitea serve the API under their own path),
// that sends token as a bearer token on every request to that host and
// nowhere else: not to a host a redirect names, and not over plain http
// unless the host is loopback. No ambient credential (netrc, a credential
// helper) is consulted. hc supplies the timeout and transport; nil means a
// one-minute timeout.
func NewClient(apiURL, token string, hc *http.Client) (*github.Client, error) {
	base, err := ParseAPIURL(apiURL, token != "")
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	authed := *hc
	authed.Transport = &tokenTransport{token: token, host: base.Host, next: next}
	client := github.NewClient(&authed)
	client.BaseURL = base
	client.UserAgent = "platform-demo"
	return client, nil
}

// ParseAPIURL checks an API root (GITHUB_API_URL) and gives it its trailing
// slash. withToken refuses plain http to another machine, where anyone on
// the way could read the token.
func ParseAPIURL(apiURL string, withToken bool) (*url.URL, error) {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	base, err := url.Parse(apiURL)
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("GITHUB_API_URL %q is not an http(s) URL: set it to the API root, e.g. %s (GitHub Enterprise: https://HOST/api/v3/, Gitea and Forgejo: https://HOST/api/v1/)",
			Display(apiURL), DefaultAPIURL)
	}
	if base.Scheme == "http" && withToken && !loopback.Host(base.Host) {
		return nil, fmt.Errorf("GITHUB_API_URL %s is plain http: refusing to send the token unencrypted; use https", Display(apiURL))
	}
	return base, nil
}

// tokenTransport adds the token explicitly, to requests for the API host
// only.
type tokenTransport struct {
	token, host string
	next        http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if t.token != "" && req.URL.Host == t.host {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.next.RoundTrip(req)
}

// Display is secret.URL: a URL as messages show it, without the
// credentials it may carry. The forge's own messages call it by this name.
func Display(raw string) string { return secret.URL(raw) }
