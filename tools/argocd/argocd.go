// Package argocd asks an Argo CD API server to refresh an application now, so
// that a gitops bump is seen without waiting for Argo CD's next poll of the
// repository (three minutes by default), and checks that such a call would
// work.
//
// Both calls use the Application service's Get endpoint,
// GET /api/v1/applications/{name}, documented in Argo CD's
// server/application/application.proto and its Swagger document. With
// ?refresh=normal (or hard) the server marks the application for refresh and
// answers once the application controller has processed it.
package argocd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/excerpt"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// DefaultTimeout bounds one call when Options.Timeout is zero. A refresh is
// answered only after the application controller has reconciled the
// application, which takes seconds, not minutes.
const DefaultTimeout = time.Minute

// Options says which Argo CD server and application to talk to.
type Options struct {
	// Server is the base URL of the Argo CD API server, e.g.
	// https://argocd.example or http://127.0.0.1:8080, with the root path if
	// Argo CD is served under one. A bare host[:port], the form the argocd CLI
	// takes, means https.
	Server string
	// Token is a bearer token of an Argo CD account allowed to `get` the
	// application. It is sent only in the Authorization header and never
	// appears in an error.
	Token string
	// App is the name of the Argo CD Application.
	App string
	// Hard asks Refresh for a hard refresh, which also drops Argo CD's cache
	// of generated manifests. A normal refresh is enough to see a new commit.
	Hard bool
	// Timeout bounds one call. Zero means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient makes the requests. Nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Refresh asks Argo CD to refresh the application now: it compares the
// application with the head of its git source again, and with automated sync
// it rolls out what changed. Refresh returns once Argo CD has processed the
// refresh.
func Refresh(ctx context.Context, opts Options) error {
	mode := "normal"
	if opts.Hard {
		mode = "hard"
	}
	_, err := call(ctx, opts, "refresh", url.Values{"refresh": {mode}})
	return err
}

// Check makes sure that Refresh can work: the server answers, accepts the
// token, and lets it read the application. It changes nothing on the server.
func Check(ctx context.Context, opts Options) error {
	_, err := call(ctx, opts, "check", nil)
	return err
}

// AppStatus is what Argo CD says of an application.
type AppStatus struct {
	// Sync is Synced, OutOfSync or Unknown.
	Sync string
	// Health is Healthy, Progressing, Degraded, Suspended, Missing or Unknown.
	Health string
	// Revision is the git commit the application is synced to.
	Revision string
	// Images are the images its live resources run.
	Images []string
	// Operation is the phase of the last sync operation (Running,
	// Succeeded, Failed, Error), empty when there was none.
	Operation string
}

// Status reads the application's sync and health. It needs only the
// `applications, get` permission Refresh needs.
func Status(ctx context.Context, opts Options) (AppStatus, error) {
	app, err := call(ctx, opts, "read", nil)
	if err != nil {
		return AppStatus{}, err
	}
	st := app.Status
	return AppStatus{Sync: st.Sync.Status, Health: st.Health.Status, Revision: st.Sync.Revision, Images: st.Summary.Images, Operation: st.OperationState.Phase}, nil
}

// application is the part of Argo CD's v1alpha1.Application read here.
type application struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Sync struct {
			Status   string `json:"status"`
			Revision string `json:"revision"`
		} `json:"sync"`
		Health struct {
			Status string `json:"status"`
		} `json:"health"`
		Summary struct {
			Images []string `json:"images"`
		} `json:"summary"`
		OperationState struct {
			Phase string `json:"phase"`
		} `json:"operationState"`
	} `json:"status"`
}

// apiError is the body Argo CD's gRPC gateway sends with an error status.
type apiError struct {
	Error   string `json:"error"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// appName follows Kubernetes object names, which Application names are.
var appName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// call GETs the application and turns every failure into one error that
// names the operation, the application and the server, and says what to fix.
func call(ctx context.Context, opts Options, op string, query url.Values) (application, error) {
	c, err := newCaller(opts)
	if err != nil {
		return application{}, fmt.Errorf("%s Argo CD application: %w", op, err)
	}
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		return fmt.Errorf("%s Argo CD application %q on %s: %s", op, c.app, c.server, c.redact(msg))
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	status, body, err := c.get(ctx, c.endpoint("api/v1/applications/"+c.app, query))
	var app application
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		return app, fail("no answer within %s (%v): Argo CD answers a refresh once its application controller has processed it, "+
			"so a busy controller is slow to answer; the refresh may still take effect", timeout, err)
	case err != nil:
		return app, fail("cannot reach Argo CD: %v; check ARGOCD_SERVER and that this machine can reach it", err)
	case status == http.StatusOK:
		if err := json.Unmarshal(body, &app); err != nil || app.Metadata.Name != c.app {
			return app, fail("the answer is not the Argo CD Application%s; check that ARGOCD_SERVER is the Argo CD API server, not a proxy's login page", excerpt.Of(body))
		}
		return app, nil
	case status == http.StatusUnauthorized:
		return app, fail("the token was rejected (401%s): %s", apiMessage(body), c.tokenFix())
	case status == http.StatusForbidden:
		return app, c.forbidden(ctx, body, fail)
	case status == http.StatusNotFound:
		if _, ok := parseAPIError(body); ok {
			return app, fail("no such application (404%s): check ARGOCD_APP", apiMessage(body))
		}
		return app, fail("404 Not Found for the Argo CD API%s: check ARGOCD_SERVER, including the root path if Argo CD is served under one", excerpt.Of(body))
	default:
		return app, fail("%d %s%s", status, http.StatusText(status), apiMessage(body))
	}
}

// forbidden explains a 403. Without a project in the query, Argo CD answers
// 403 both when the account may not get the application and when no
// application has that name, so as not to reveal which applications exist.
// The session's user info tells a rejected token apart from those two.
func (c *caller) forbidden(ctx context.Context, body []byte, fail func(string, ...any) error) error {
	user, err := c.userInfo(ctx)
	switch {
	case err == nil && !user.LoggedIn:
		return fail("the token was rejected (403%s): %s", apiMessage(body), c.tokenFix())
	case err == nil:
		return fail("permission denied for account %q (403%s): either no application has this name (check ARGOCD_APP) "+
			"or the account may not get it (grant it in argocd-rbac-cm, e.g. `p, role:ci, applications, get, <project>/%s, allow` "+
			"and `g, %s, role:ci`)", user.Username, apiMessage(body), c.app, user.Username)
	default:
		return fail("permission denied (403%s): the token is not accepted (check ARGOCD_AUTH_TOKEN), no application has this name "+
			"(check ARGOCD_APP), or the account may not get it (grant `applications, get` in argocd-rbac-cm)", apiMessage(body))
	}
}

// caller holds checked options for one call.
type caller struct {
	base   *url.URL
	server string
	token  string
	app    string
	client *http.Client
}

func newCaller(opts Options) (*caller, error) {
	server := strings.TrimSpace(opts.Server)
	if server == "" {
		return nil, errors.New("no Argo CD server: set ARGOCD_SERVER to the Argo CD API URL, e.g. https://argocd.example")
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	base, err := url.Parse(server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("ARGOCD_SERVER %q is not an http(s) URL or host[:port]", secret.URL(opts.Server))
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath, base.RawQuery, base.Fragment = "", "", ""
	token := strings.TrimSpace(opts.Token)
	if token == "" {
		return nil, errors.New("no Argo CD token: set ARGOCD_AUTH_TOKEN to a token from `argocd account generate-token` for an account allowed to get the application")
	}
	app := strings.TrimSpace(opts.App)
	if app == "" {
		return nil, errors.New("no application name: set ARGOCD_APP to the name of the Argo CD Application")
	}
	if !appName.MatchString(app) {
		return nil, fmt.Errorf("ARGOCD_APP %q is not an Application name (lowercase letters, digits, '-' and '.')", opts.App)
	}
	client := opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	return &caller{base: base, server: secret.URL(base.String()), token: token, app: app, client: client}, nil
}

func (c *caller) endpoint(path string, query url.Values) string {
	u := *c.base
	u.Path = u.Path + "/" + path
	u.RawQuery = query.Encode()
	return u.String()
}

// get sends an authenticated GET and returns the status and the start of the body.
func (c *caller) get(ctx context.Context, endpoint string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		// *url.Error repeats method and URL, already named by the caller.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, nil, err
	}
	defer func() {
		// Drain the rest so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	// An Application with its resource list can be large; the fields read
	// here come first, but the JSON must be whole to decode.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// userInfo is Argo CD's GET /api/v1/session/userinfo answer. That endpoint
// answers 200 with or without a valid token, so it cannot check a token by
// status; loggedIn says whether the token was accepted.
type userInfo struct {
	LoggedIn bool   `json:"loggedIn"`
	Username string `json:"username"`
}

func (c *caller) userInfo(ctx context.Context) (userInfo, error) {
	status, body, err := c.get(ctx, c.endpoint("api/v1/session/userinfo", nil))
	if err != nil {
		return userInfo{}, err
	}
	if status != http.StatusOK {
		return userInfo{}, fmt.Errorf("userinfo: %d %s", status, http.StatusText(status))
	}
	var u userInfo
	if err := json.Unmarshal(body, &u); err != nil {
		return userInfo{}, fmt.Errorf("userinfo: %w", err)
	}
	return u, nil
}

// tokenFix says how to get a working token; it names the token only by its
// length, which tells an empty or placeholder secret apart from a real one.
func (c *caller) tokenFix() string {
	return fmt.Sprintf("ARGOCD_AUTH_TOKEN (%d characters) is invalid, expired or revoked; create a new one with "+
		"`argocd account generate-token --account <account>` for an account with the apiKey capability and "+
		"`applications, get` permission on %q", len(c.token), c.app)
}

// redact removes the token from text that quotes the server, in case a proxy
// or server echoes the request back.
func (c *caller) redact(s string) string {
	return strings.ReplaceAll(s, c.token, "[token]")
}

func parseAPIError(body []byte) (apiError, bool) {
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || (e.Message == "" && e.Error == "") {
		return apiError{}, false
	}
	return e, true
}

// apiMessage quotes Argo CD's error message, or the start of a body that is
// not one.
func apiMessage(body []byte) string {
	if e, ok := parseAPIError(body); ok {
		msg := e.Message
		if msg == "" {
			msg = e.Error
		}
		return fmt.Sprintf(": %q", msg)
	}
	return excerpt.Of(body)
}
