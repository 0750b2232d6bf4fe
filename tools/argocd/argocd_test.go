package argocd

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	goodToken = "eyJhbGciOiJIUzI1NiJ9.argocd-test-token.c2lnbmF0dXJl"
	badToken  = "eyJhbGciOiJIUzI1NiJ9.revoked-test-token.c2lnbmF0dXJl"
	app       = "platform-demo"
)

// fakeArgoCD answers the two endpoints used here the way Argo CD's API server
// does: 401 for a token it cannot verify, 403 for an application that is
// missing or not permitted (no project given), and userinfo with loggedIn.
type fakeArgoCD struct {
	// allowed names the applications the good token may get; others are 403.
	allowed map[string]bool
	// gone names applications answered with Argo CD's 404, as when the
	// request names a project.
	gone map[string]bool
	// forbidBadToken answers 403 instead of 401 to a bad token, as Argo CD
	// does when anonymous access is enabled.
	forbidBadToken bool
	// hang makes application requests wait until the client gives up, like
	// a refresh the controller never gets to.
	hang bool

	mu       sync.Mutex
	requests []string // "path?query" of each application request
}

func (f *fakeArgoCD) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/session/userinfo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+goodToken {
			writeJSON(w, http.StatusOK, `{"loggedIn":true,"username":"ci","iss":"argocd"}`)
			return
		}
		writeJSON(w, http.StatusOK, `{}`)
	})
	mux.HandleFunc("GET /api/v1/applications/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.URL.Path+"?"+r.URL.RawQuery)
		f.mu.Unlock()
		if f.hang {
			<-r.Context().Done()
			return
		}
		name := r.PathValue("name")
		switch {
		case r.Header.Get("Authorization") != "Bearer "+goodToken && f.forbidBadToken:
			writeJSON(w, http.StatusForbidden, `{"error":"permission denied","code":7,"message":"permission denied"}`)
		case r.Header.Get("Authorization") != "Bearer "+goodToken:
			writeJSON(w, http.StatusUnauthorized, `{"error":"invalid session: token signature is invalid","code":16,"message":"invalid session: token signature is invalid"}`)
		case f.gone[name]:
			writeJSON(w, http.StatusNotFound, fmt.Sprintf(`{"error":"applications.argoproj.io \"%s\" not found","code":5,"message":"applications.argoproj.io \"%s\" not found"}`, name, name))
		case !f.allowed[name]:
			writeJSON(w, http.StatusForbidden, `{"error":"permission denied","code":7,"message":"permission denied"}`)
		case r.URL.Query().Has("refresh") && r.URL.Query().Get("refresh") != "normal" && r.URL.Query().Get("refresh") != "hard":
			writeJSON(w, http.StatusBadRequest, `{"error":"bad refresh","code":3,"message":"bad refresh"}`)
		default:
			writeJSON(w, http.StatusOK, fmt.Sprintf(`{"metadata":{"name":%q,"namespace":"argocd"},"spec":{"project":"default"},`+
				`"status":{"sync":{"status":"Synced","revision":"3f2c1d0"},"health":{"status":"Healthy"}}}`, name))
		}
	})
	return mux
}

func (f *fakeArgoCD) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func newArgoCD(t *testing.T, f *fakeArgoCD, prefix string) *httptest.Server {
	t.Helper()
	h := f.handler()
	if prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
		h = mux
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func allowing(names ...string) *fakeArgoCD {
	f := &fakeArgoCD{allowed: map[string]bool{}, gone: map[string]bool{}}
	for _, n := range names {
		f.allowed[n] = true
	}
	return f
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name     string
		prefix   string // root path Argo CD is served under
		server   func(url string) string
		hard     bool
		wantSeen []string
	}{
		{name: "normal refresh", server: same, wantSeen: []string{"/api/v1/applications/platform-demo?refresh=normal"}},
		{name: "hard refresh", server: same, hard: true, wantSeen: []string{"/api/v1/applications/platform-demo?refresh=hard"}},
		{name: "server URL with trailing slash", server: func(u string) string { return u + "/" },
			wantSeen: []string{"/api/v1/applications/platform-demo?refresh=normal"}},
		{name: "server under a root path", prefix: "/argocd", server: func(u string) string { return u + "/argocd/" },
			wantSeen: []string{"/api/v1/applications/platform-demo?refresh=normal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := allowing(app)
			srv := newArgoCD(t, f, tt.prefix)
			opts := Options{Server: tt.server(srv.URL), Token: goodToken, App: app, Hard: tt.hard, HTTPClient: srv.Client()}
			if err := Refresh(t.Context(), opts); err != nil {
				t.Fatalf("Refresh(%s, %s) error: %v", opts.Server, opts.App, err)
			}
			if diff := cmp.Diff(tt.wantSeen, f.seen()); diff != "" {
				t.Errorf("Refresh(%s, %s) requests mismatch (-want +got):\n%s", opts.Server, opts.App, diff)
			}
		})
	}
}

// TestRefreshBareHost checks that a server given as host:port, the way the
// argocd CLI takes ARGOCD_SERVER, is reached over https.
func TestRefreshBareHost(t *testing.T) {
	f := allowing(app)
	srv := httptest.NewTLSServer(f.handler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	opts := Options{Server: host, Token: goodToken, App: app, HTTPClient: srv.Client()}
	if err := Refresh(t.Context(), opts); err != nil {
		t.Fatalf("Refresh(%s, %s) error: %v", host, app, err)
	}
	if diff := cmp.Diff([]string{"/api/v1/applications/platform-demo?refresh=normal"}, f.seen()); diff != "" {
		t.Errorf("Refresh(%s, %s) requests mismatch (-want +got):\n%s", host, app, diff)
	}
}

func TestCheck(t *testing.T) {
	f := allowing(app)
	srv := newArgoCD(t, f, "")
	opts := Options{Server: srv.URL, Token: goodToken, App: app, HTTPClient: srv.Client()}
	if err := Check(t.Context(), opts); err != nil {
		t.Fatalf("Check(%s, %s) error: %v", opts.Server, opts.App, err)
	}
	// A check must not trigger a refresh: no refresh parameter at all.
	if diff := cmp.Diff([]string{"/api/v1/applications/platform-demo?"}, f.seen()); diff != "" {
		t.Errorf("Check(%s, %s) requests mismatch (-want +got):\n%s", opts.Server, opts.App, diff)
	}
}

func TestRefreshErrors(t *testing.T) {
	tests := []struct {
		name    string
		fake    *fakeArgoCD
		server  func(t *testing.T, f *fakeArgoCD) string // nil: a fake Argo CD
		token   string
		app     string
		timeout time.Duration
		want    []string
	}{
		{
			name: "token rejected", fake: allowing(app), token: badToken, app: app,
			want: []string{`refresh Argo CD application "platform-demo" on http://127.0.0.1:`, "401", "token signature is invalid",
				"ARGOCD_AUTH_TOKEN (52 characters)", "argocd account generate-token", "applications, get"},
		},
		{
			name: "token rejected with 403", fake: &fakeArgoCD{allowed: map[string]bool{app: true}, forbidBadToken: true}, token: badToken, app: app,
			want: []string{"token was rejected (403", "ARGOCD_AUTH_TOKEN", "argocd account generate-token"},
		},
		{
			name: "application missing or not permitted", fake: allowing("other"), token: goodToken, app: app,
			want: []string{"403", `account "ci"`, "check ARGOCD_APP", "applications, get, <project>/platform-demo, allow", "g, ci, role:ci"},
		},
		{
			name: "application not found", fake: &fakeArgoCD{gone: map[string]bool{app: true}}, token: goodToken, app: app,
			want: []string{"no such application (404", "not found", "check ARGOCD_APP"},
		},
		{
			name: "not the Argo CD API", token: goodToken, app: app,
			server: func(t *testing.T, _ *fakeArgoCD) string {
				srv := httptest.NewServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				return srv.URL
			},
			want: []string{"404 Not Found for the Argo CD API", "check ARGOCD_SERVER", "root path"},
		},
		{
			name: "login page instead of the API", token: goodToken, app: app,
			server: func(t *testing.T, _ *fakeArgoCD) string {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					fmt.Fprint(w, "<html>Sign in</html>")
				}))
				t.Cleanup(srv.Close)
				return srv.URL
			},
			want: []string{"not the Argo CD Application", "Sign in", "ARGOCD_SERVER"},
		},
		{
			name: "server error", token: goodToken, app: app,
			server: func(t *testing.T, _ *fakeArgoCD) string {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					writeJSON(w, http.StatusInternalServerError, `{"error":"error refreshing the app","code":13,"message":"error refreshing the app"}`)
				}))
				t.Cleanup(srv.Close)
				return srv.URL
			},
			want: []string{"500 Internal Server Error", "error refreshing the app"},
		},
		{
			name: "unreachable", token: goodToken, app: app, server: closedPort,
			want: []string{"on http://127.0.0.1:", "cannot reach Argo CD", "connection refused", "check ARGOCD_SERVER"},
		},
		{
			name: "no answer in time", fake: &fakeArgoCD{hang: true}, token: goodToken, app: app, timeout: 20 * time.Millisecond,
			want: []string{"no answer within 20ms", "application controller", "may still take effect"},
		},
		{name: "no server", token: goodToken, app: app, server: func(*testing.T, *fakeArgoCD) string { return "" },
			want: []string{"set ARGOCD_SERVER"}},
		{name: "bad server", token: goodToken, app: app, server: func(*testing.T, *fakeArgoCD) string { return "ftp://argocd.example" },
			want: []string{"ARGOCD_SERVER", "not an http(s) URL"}},
		{name: "no token", fake: allowing(app), app: app, want: []string{"set ARGOCD_AUTH_TOKEN"}},
		{name: "no application", fake: allowing(app), token: goodToken, want: []string{"set ARGOCD_APP"}},
		{name: "bad application name", fake: allowing(app), token: goodToken, app: "../session",
			want: []string{`ARGOCD_APP "../session" is not an Application name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			server := ""
			if tt.server != nil {
				server = tt.server(t, tt.fake)
			} else {
				server = newArgoCD(t, tt.fake, "").URL
			}
			opts := Options{Server: server, Token: tt.token, App: tt.app, Timeout: tt.timeout}
			err := Refresh(t.Context(), opts)
			if err == nil {
				t.Fatalf("Refresh(%q, %q) = nil, want an error", server, tt.app)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Refresh(%q, %q) error = %q, want it to contain %q", server, tt.app, err, s)
				}
			}
			for _, secret := range []string{goodToken, badToken, "argocd-test-token", "revoked-test-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Refresh(%q, %q) error = %q, which contains the token", server, tt.app, err)
				}
			}
		})
	}
}

// TestRedactsEchoedToken guards against a server or proxy that quotes the
// request, token included, in its error answer.
func TestRedactsEchoedToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadGateway, fmt.Sprintf(`{"error":"x","code":14,"message":"upstream refused %s"}`, r.Header.Get("Authorization")))
	}))
	t.Cleanup(srv.Close)
	err := Check(t.Context(), Options{Server: srv.URL, Token: goodToken, App: app})
	if err == nil || strings.Contains(err.Error(), goodToken) || !strings.Contains(err.Error(), "Bearer [token]") {
		t.Fatalf("Check against an echoing server error = %v, want the token replaced by [token]", err)
	}
}

func TestCheckCanceled(t *testing.T) {
	f := allowing(app)
	srv := newArgoCD(t, f, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Check(ctx, Options{Server: srv.URL, Token: goodToken, App: app})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Check with a canceled context error = %v, want one saying the context was canceled", err)
	}
}

func same(u string) string { return u }

// closedPort returns an http URL on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T, _ *fakeArgoCD) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// TestStatus guards what mage status shows of Argo CD: sync, health, the
// revision synced and the images running.
func TestStatus(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiJ9.status-test.c2lnbmF0dXJl"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.URL.Path != "/api/v1/applications/platform-demo" || r.URL.Query().Get("refresh") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"metadata":{"name":"platform-demo"},"status":{"sync":{"status":"OutOfSync","revision":"0123abc"},
			"health":{"status":"Progressing"},"summary":{"images":["ghcr.io/o/p:1a2b3c4@sha256:00"]},"operationState":{"phase":"Running"}}}`))
	}))
	defer srv.Close()
	got, err := Status(context.Background(), Options{Server: srv.URL, Token: token, App: "platform-demo"})
	if err != nil {
		t.Fatal(err)
	}
	want := AppStatus{Sync: "OutOfSync", Health: "Progressing", Revision: "0123abc", Images: []string{"ghcr.io/o/p:1a2b3c4@sha256:00"}, Operation: "Running"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Status() (-want +got):\n%s", diff)
	}
}
