package githubtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
)

var (
	keysOnce           sync.Once
	appKey, strangeKey *rsa.PrivateKey
)

// keys returns the App's key and a key of no App, generated once per test
// binary.
func keys(t *testing.T) (app, strange *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if strangeKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return appKey, strangeKey
}

// signJWT makes an RS256 JWT with these claims, as an App signs them.
func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	unsigned := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(unsigned))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// appJWT is a JWT for app as the docs recommend: issued a minute ago,
// expiring in nine.
func appJWT(t *testing.T, key *rsa.PrivateKey, iss any) string {
	now := time.Now()
	return signJWT(t, key, map[string]any{"iss": iss, "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix()})
}

func newAppServer(t *testing.T) *Server {
	t.Helper()
	key, strange := keys(t)
	srv := New()
	t.Cleanup(srv.Close)
	srv.CreateRepo("o/gitops", "main", map[string]string{"apps/a.yaml": "a: 1\n"})
	srv.CreateRepo("o/other", "main", map[string]string{"x": "1"})
	srv.CreateRepo("o/elsewhere", "main", nil)
	srv.AddApp(42, &key.PublicKey)
	srv.InstallApp(42, 7, "o/gitops", "o/other")
	srv.AddApp(43, &strange.PublicKey)
	srv.InstallApp(43, 8, "o/elsewhere")
	return srv
}

func TestAppInstallationToken(t *testing.T) {
	ctx := context.Background()
	key, _ := keys(t)
	srv := newAppServer(t)
	app := client(t, srv, appJWT(t, key, "42"))

	a, _, err := app.Apps.Get(ctx, "")
	if err != nil || a.GetID() != 42 || a.GetSlug() != "app-42" {
		t.Errorf("Apps.Get = %+v, %v; want app-42", a, err)
	}
	inst, _, err := app.Apps.FindRepositoryInstallation(ctx, "o", "gitops")
	if err != nil || inst.GetID() != 7 || inst.GetAppID() != 42 {
		t.Fatalf("FindRepositoryInstallation = %+v, %v; want installation 7 of app 42", inst, err)
	}
	tok, resp, err := app.Apps.CreateInstallationToken(ctx, inst.GetID(), &github.InstallationTokenOptions{
		Repositories: []string{"gitops"},
		Permissions:  &github.InstallationPermissions{Contents: github.String("write"), PullRequests: github.String("write")},
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateInstallationToken = %v, %v; want 201", tok, err)
	}
	if !strings.HasPrefix(tok.GetToken(), "ghs_") || len(tok.GetToken()) != 40 ||
		tok.GetExpiresAt().Before(time.Now().Add(59*time.Minute)) || tok.GetExpiresAt().After(time.Now().Add(61*time.Minute)) ||
		tok.Permissions.GetContents() != "write" || tok.Permissions.GetPullRequests() != "write" ||
		len(tok.Repositories) != 1 || tok.Repositories[0].GetFullName() != "o/gitops" {
		t.Errorf("installation token = %+v", tok)
	}
	minted := srv.Minted()
	if len(minted) != 1 || minted[0].Token != tok.GetToken() || minted[0].InstallationID != 7 ||
		len(minted[0].Repositories) != 1 || minted[0].Repositories[0] != "o/gitops" ||
		len(minted[0].Permissions) != 2 || minted[0].Permissions["contents"] != "write" || minted[0].Permissions["pull_requests"] != "write" {
		t.Errorf("Minted = %+v", minted)
	}

	// The token reads and writes the requested repository only, without the
	// scopes header of classic tokens.
	c := client(t, srv, tok.GetToken())
	file, _, resp, err := c.Repositories.GetContents(ctx, "o", "gitops", "apps/a.yaml", nil)
	if err != nil {
		t.Fatalf("GetContents with the installation token: %v", err)
	}
	if _, ok := resp.Header["X-Oauth-Scopes"]; ok {
		t.Error("an installation token got an X-OAuth-Scopes header")
	}
	if _, _, err := c.Repositories.UpdateFile(ctx, "o", "gitops", "apps/a.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("bump"), Content: []byte("a: 2\n"), SHA: file.SHA, Branch: github.String("main"),
	}); err != nil {
		t.Errorf("UpdateFile with contents:write: %v", err)
	}
	if log := srv.Log("o/gitops", "main"); log[0].Author != "app-42[bot]" {
		t.Errorf("commit author = %q, want app-42[bot]", log[0].Author)
	}
	_, _, err = c.Repositories.Get(ctx, "o", "other")
	wantError(t, "Get(o/other) with a token for o/gitops", err, http.StatusNotFound, "Not Found")
	_, _, err = c.Users.Get(ctx, "")
	wantError(t, "Users.Get with an installation token", err, http.StatusForbidden, "Resource not accessible by integration")
	_, _, err = c.Apps.Get(ctx, "")
	wantError(t, "Apps.Get with an installation token", err, http.StatusUnauthorized, "A JSON web token could not be decoded")
	// The JWT is no key to repositories.
	_, _, _, err = app.Repositories.GetContents(ctx, "o", "gitops", "apps/a.yaml", nil)
	wantError(t, "GetContents with the JWT", err, http.StatusUnauthorized, "A JSON web token could not be decoded")
	srv.CommitFiles("o/gitops", "feature", "change", map[string]string{"apps/a.yaml": "a: 3\n"})
	if _, _, err := c.PullRequests.Create(ctx, "o", "gitops", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")}); err != nil {
		t.Errorf("PullRequests.Create with pull_requests:write: %v", err)
	}

	// Without a repository list, the token reaches the whole installation.
	all, _, err := app.Apps.CreateInstallationToken(ctx, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client(t, srv, all.GetToken()).Repositories.Get(ctx, "o", "other"); err != nil {
		t.Errorf("Get(o/other) with an installation-wide token: %v", err)
	}
	if m := srv.Minted()[1]; len(m.Repositories) != 2 || m.Permissions["contents"] != "write" {
		t.Errorf("installation-wide token = %+v, want both repositories and all permissions", m)
	}
}

func TestAppTokenPermissions(t *testing.T) {
	ctx := context.Background()
	key, _ := keys(t)
	tests := []struct {
		name  string
		perms *github.InstallationPermissions
		call  func(*github.Client) error
		want  int
	}{
		{"contents read cannot write", &github.InstallationPermissions{Contents: github.String("read"), PullRequests: github.String("write")}, func(c *github.Client) error {
			_, _, err := c.Repositories.UpdateFile(ctx, "o", "gitops", "apps/a.yaml", &github.RepositoryContentFileOptions{
				Message: github.String("m"), Content: []byte("a: 2\n"), SHA: github.String(BlobSHA([]byte("a: 1\n"))),
			})
			return err
		}, http.StatusForbidden},
		{"contents read can read", &github.InstallationPermissions{Contents: github.String("read")}, func(c *github.Client) error {
			_, _, _, err := c.Repositories.GetContents(ctx, "o", "gitops", "apps/a.yaml", nil)
			return err
		}, 0},
		{"no pull_requests cannot open a pull", &github.InstallationPermissions{Contents: github.String("write")}, func(c *github.Client) error {
			_, _, err := c.PullRequests.Create(ctx, "o", "gitops", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")})
			return err
		}, http.StatusForbidden},
		{"pull_requests read cannot comment", &github.InstallationPermissions{Contents: github.String("write"), PullRequests: github.String("read")}, func(c *github.Client) error {
			_, _, err := c.Issues.CreateComment(ctx, "o", "gitops", 1, &github.IssueComment{Body: github.String("hi")})
			return err
		}, http.StatusForbidden},
		{"pull_requests without contents cannot merge", &github.InstallationPermissions{PullRequests: github.String("write")}, func(c *github.Client) error {
			_, _, err := c.PullRequests.Merge(ctx, "o", "gitops", 1, "", nil)
			return err
		}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAppServer(t)
			srv.AddToken(token, Token{})
			srv.CommitFiles("o/gitops", "feature", "change", map[string]string{"apps/a.yaml": "a: 3\n"})
			if _, _, err := client(t, srv, token).PullRequests.Create(ctx, "o", "gitops", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")}); err != nil {
				t.Fatal(err)
			}
			app := client(t, srv, appJWT(t, key, 42))
			tok, _, err := app.Apps.CreateInstallationToken(ctx, 7, &github.InstallationTokenOptions{Repositories: []string{"gitops"}, Permissions: tt.perms})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(client(t, srv, tok.GetToken()))
			if tt.want == 0 {
				if err != nil {
					t.Errorf("error = %v, want none", err)
				}
				return
			}
			wantError(t, tt.name, err, tt.want, "Resource not accessible by integration")
		})
	}
}

func TestAppErrors(t *testing.T) {
	ctx := context.Background()
	key, strange := keys(t)
	srv := newAppServer(t)
	now := time.Now()
	claims := func(iss any, iat, exp time.Time) map[string]any {
		return map[string]any{"iss": iss, "iat": iat.Unix(), "exp": exp.Unix()}
	}
	ok := claims("42", now.Add(-time.Minute), now.Add(9*time.Minute))
	tests := []struct {
		name   string
		jwt    string
		call   func(*github.Client) error
		status int
		msg    string
	}{
		{"wrong key", signJWT(t, strange, ok), nil, 401, "A JSON web token could not be decoded"},
		{"not a JWT", "a.b.c", nil, 401, "A JSON web token could not be decoded"},
		{"unknown app", appJWT(t, key, "99"), nil, 404, "Integration not found"},
		{"exp too far", signJWT(t, key, claims("42", now, now.Add(11*time.Minute))), nil, 401, "'Expiration time' claim ('exp') is too far in the future"},
		{"exp past", signJWT(t, key, claims("42", now.Add(-20*time.Minute), now.Add(-time.Minute))), nil, 401, "'Expiration time' claim ('exp') must be a numeric value"},
		{"iat future", signJWT(t, key, claims("42", now.Add(2*time.Minute), now.Add(9*time.Minute))), nil, 401, "'Issued at' claim ('iat') must be an Integer"},
		{"numeric iss", appJWT(t, key, 42), nil, 0, ""},
		{"not installed on the repo", appJWT(t, key, "42"), func(c *github.Client) error {
			_, _, err := c.Apps.FindRepositoryInstallation(ctx, "o", "elsewhere")
			return err
		}, 404, "Not Found"},
		{"installation of another app", appJWT(t, key, "42"), func(c *github.Client) error {
			_, _, err := c.Apps.CreateInstallationToken(ctx, 8, nil)
			return err
		}, 404, "Not Found"},
		{"unknown installation", appJWT(t, key, "42"), func(c *github.Client) error {
			_, _, err := c.Apps.CreateInstallationToken(ctx, 9, nil)
			return err
		}, 404, "Not Found"},
		{"repository outside the installation", appJWT(t, key, "42"), func(c *github.Client) error {
			_, _, err := c.Apps.CreateInstallationToken(ctx, 7, &github.InstallationTokenOptions{Repositories: []string{"elsewhere"}})
			return err
		}, 422, "There is at least one repository that does not exist or is not accessible to the parent installation."},
		{"permission not granted", appJWT(t, key, "42"), func(c *github.Client) error {
			_, _, err := c.Apps.CreateInstallationToken(ctx, 7, &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Administration: github.String("write")}})
			return err
		}, 422, "The permissions requested are not granted to this installation."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := tt.call
			if call == nil {
				call = func(c *github.Client) error { _, _, err := c.Apps.Get(ctx, ""); return err }
			}
			err := call(client(t, srv, tt.jwt))
			if tt.status == 0 {
				if err != nil {
					t.Errorf("error = %v, want none", err)
				}
				return
			}
			wantError(t, tt.name, err, tt.status, tt.msg)
		})
	}
	if n := len(srv.Minted()); n != 0 {
		t.Errorf("refused requests minted %d tokens", n)
	}
}
