package publish

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
)

// Causes of a registry failure. Test for them with errors.Is.
var (
	// ErrUnauthorized: the registry rejected the credentials (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDenied: the credentials are valid but may not do this (HTTP 403).
	ErrDenied = errors.New("denied")
	// ErrUnreachable: no connection to the registry (refused, DNS, timeout).
	ErrUnreachable = errors.New("unreachable")
)

// registryError is a registry failure that names the registry and its cause.
// Its message is built once, with any credential removed.
type registryError struct {
	msg   string
	cause error
	err   error
}

func (e *registryError) Error() string   { return e.msg }
func (e *registryError) Unwrap() []error { return []error{e.cause, e.err} }

// classify wraps err from talking to registry (host[:port]) during op. A
// known cause gets a message saying what to do next. secret, when set, is
// removed from the message.
func classify(op, registry string, err error, secret string) error {
	if err == nil {
		return nil
	}
	var re *registryError
	if errors.As(err, &re) {
		return re
	}
	p := Explain(err, registry)
	var msg string
	if p.Cause == nil {
		msg = fmt.Sprintf("%s: registry %s: %v", op, registry, err)
	} else {
		msg = fmt.Sprintf("%s: registry %s: %v: %s; %s", op, registry, p.Cause, p.Detail, p.Fix)
	}
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return &registryError{msg: msg, cause: p.Cause, err: err}
}

// Problem is what a registry's answer, or its silence, means.
type Problem struct {
	// Cause is ErrUnauthorized, ErrDenied or ErrUnreachable, or nil when
	// the failure is none of them.
	Cause error
	// Detail is what the registry said (its status and error code), or why
	// it said nothing, without the request's URL.
	Detail string
	// Fix says what to do next.
	Fix string
}

// ghcrHint is what a push to ghcr.io needs from the workflow.
const ghcrHint = "on ghcr.io the workflow job needs `permissions: packages: write` and passes github.actor and GITHUB_TOKEN; " +
	"a package that already exists must also grant this repository Write under Package settings → Manage Actions access; " +
	"a PAT needs the `write:packages` scope"

// Explain says what err, from a request to registry (host[:port]), means
// and what to do about it. Publish and doctor both use it.
func Explain(err error, registry string) Problem {
	var p Problem
	var terr *transport.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.As(err, &terr):
		p.Detail = fmt.Sprintf("%d %s", terr.StatusCode, http.StatusText(terr.StatusCode))
		if len(terr.Errors) > 0 {
			p.Detail += fmt.Sprintf(" (%s: %s)", terr.Errors[0].Code, terr.Errors[0].Message)
		}
		switch terr.StatusCode {
		case http.StatusUnauthorized:
			p.Cause, p.Fix = ErrUnauthorized, "check REGISTRY_USERNAME and REGISTRY_PASSWORD, or, when they are unset, the Docker config's login (`docker login "+registry+"`)"
		case http.StatusForbidden:
			p.Cause, p.Fix = ErrDenied, "the credentials are valid but may not write this repository: grant them push rights"
		default:
			p.Fix = "check KO_DOCKER_REPO and the registry's credentials"
		}
	case errors.As(err, &dnsErr):
		p.Cause, p.Detail = ErrUnreachable, "cannot resolve "+dnsErr.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		p.Cause, p.Detail = ErrUnreachable, "connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		p.Cause, p.Detail = ErrUnreachable, "no answer in time"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		p.Cause, p.Detail = ErrUnreachable, opErr.Err.Error()
	default:
		p.Detail = err.Error()
		p.Fix = "check KO_DOCKER_REPO and the registry's credentials"
	}
	if errors.Is(p.Cause, ErrUnreachable) {
		p.Fix = "check KO_DOCKER_REPO's host, that the registry is running, and that this machine can reach it"
	}
	if registry == "ghcr.io" && !errors.Is(p.Cause, ErrUnreachable) {
		p.Fix += ";\n" + ghcrHint
	}
	return p
}

// Keychain answers with the basic credentials username and password for
// registry (host[:port], as name.Registry.RegistryStr spells it) and defers
// to fallback for every other registry, so that the push credentials never
// go to a base image's registry or to one an image reference names. Without
// a username it is fallback alone; a nil fallback answers anonymously.
func Keychain(registry, username, password string, fallback authn.Keychain) authn.Keychain {
	kc := keychain{registry: registry, fallback: fallback}
	if kc.fallback == nil {
		kc.fallback = authn.NewMultiKeychain()
	}
	if username != "" {
		kc.auth = authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	}
	return kc
}

// keychain is the Keychain for one registry.
type keychain struct {
	registry string
	auth     authn.Authenticator
	fallback authn.Keychain
}

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if k.auth != nil && r.RegistryStr() == k.registry {
		return k.auth, nil
	}
	return k.fallback.Resolve(r)
}

// Transport returns next (remote.DefaultTransport when nil) with plain HTTP
// let through only to loopback hosts. go-containerregistry also speaks plain
// HTTP to private (RFC 1918) and .local addresses; credentials must not
// cross a network in clear text, so those requests are upgraded to HTTPS.
func Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = remote.DefaultTransport
	}
	return loopbackOnlyHTTP{next: next}
}

// loopbackOnlyHTTP is the RoundTripper Transport returns.
type loopbackOnlyHTTP struct {
	next http.RoundTripper
}

func (t loopbackOnlyHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || loopback.Host(req.URL.Host) {
		return t.next.RoundTrip(req)
	}
	up := req.Clone(req.Context())
	up.URL.Scheme = "https"
	return t.next.RoundTrip(up)
}
