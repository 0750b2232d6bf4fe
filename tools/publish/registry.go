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
	cause, hint := causeOf(err)
	var msg string
	if cause == nil {
		msg = fmt.Sprintf("%s: registry %s: %v", op, registry, err)
	} else {
		msg = fmt.Sprintf("%s: registry %s: %v: %v; %s", op, registry, cause, err, hint)
	}
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return &registryError{msg: msg, cause: cause, err: err}
}

func causeOf(err error) (cause error, hint string) {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized:
			return ErrUnauthorized, "check the registry username and password (REGISTRY_USERNAME, REGISTRY_PASSWORD) or the Docker config login for this registry"
		case http.StatusForbidden:
			return ErrDenied, "the credentials are valid but may not write this repository; grant them push rights (for ghcr.io: packages: write)"
		}
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr),
		errors.As(err, &opErr) && opErr.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &netErr) && netErr.Timeout(),
		errors.Is(err, context.DeadlineExceeded):
		return ErrUnreachable, "check that the registry is running and that its address is right"
	}
	return nil, ""
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
