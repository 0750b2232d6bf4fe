// Package giteatest runs a real Gitea server for tests: built from its Go
// module at a pinned version (cached between runs, see Binary), started on
// 127.0.0.1 with a throwaway data directory, SQLite, no mailer, no SSH and
// offline, with an administrator, a bot account that the code under test
// writes as, and helpers to create repositories, protect branches and set
// commit statuses through Gitea's own API.
//
// It is for the integration tests alone (files built with the integration
// tag): no target links it, as a test of package targets checks.
package giteatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
)

// Users of the server: AdminUser owns the organisations and sets the
// repositories up; BotUser is the account the code under test writes as, a
// collaborator with write access, as a deploy bot would be.
const (
	AdminUser = "gitea-admin"
	BotUser   = "platform-bot"
)

// Server is a running Gitea.
type Server struct {
	// URL is the API root, http://127.0.0.1:<port>/api/v1/, as
	// GITHUB_API_URL takes it.
	URL string
	// Web is the server's root URL.
	Web string
	// BotToken is an access token of BotUser with every scope. Tests pass it
	// to the code under test; it is never printed.
	BotToken string
	// Version is what GET /version answers.
	Version string
	// Started is how long the start took: the binary (built or cached),
	// the database, the users and the first answer.
	Started time.Duration
	// Build is the binary the server runs.
	Build Build

	adminToken string
	dir        string
	cmd        *exec.Cmd
	exited     chan struct{}
	logs       *bytes.Buffer
	mu         sync.Mutex
}

// Start builds (or finds in the cache) Gitea, starts it on a free
// loopback port and creates its users. The server stops when the test
// ends; its logs are shown if the test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b, err := Binary(ctx, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gitea %s: %s (built now: %v, %s)", Version, b.Binary, b.Built, b.Took.Round(time.Millisecond))

	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{
		Web: fmt.Sprintf("http://127.0.0.1:%d/", port), Build: b, dir: dir,
		logs: &bytes.Buffer{}, exited: make(chan struct{}),
	}
	s.URL = s.Web + "api/v1/"
	if err := s.writeConfig(port); err != nil {
		t.Fatal(err)
	}
	// The database and the users come first, with the server's own
	// commands, which need no password for the API.
	if out, err := s.gitea(ctx, "migrate"); err != nil {
		t.Fatalf("gitea migrate: %v\n%s", err, out)
	}
	if s.adminToken, err = s.createUser(ctx, AdminUser, true); err != nil {
		t.Fatal(err)
	}
	if s.BotToken, err = s.createUser(ctx, BotUser, false); err != nil {
		t.Fatal(err)
	}

	s.cmd = exec.Command(b.Binary, "--config", s.config(), "--work-path", dir, "web")
	s.cmd.Env, s.cmd.Dir = s.env(), dir
	s.cmd.Stdout, s.cmd.Stderr = syncWriter{s}, syncWriter{s}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start gitea web: %v", err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("Gitea's output:\n%s", lastLines(s.output(), 60))
		}
	})
	if err := s.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s.Started = time.Since(start)
	t.Logf("Gitea %s serves %s, started in %s", s.Version, s.URL, s.Started.Round(time.Millisecond))
	return s
}

func (s *Server) config() string { return filepath.Join(s.dir, "app.ini") }

// writeConfig writes an app.ini for a server that listens on loopback
// only, keeps everything in its directory and reaches for nothing outside
// this machine: offline mode (no avatars or assets from the network), no
// mailer, no SSH, no update checker.
func (s *Server) writeConfig(port int) error {
	u, err := user.Current()
	if err != nil {
		return fmt.Errorf("current user: %w", err)
	}
	root := ""
	if os.Geteuid() == 0 {
		// Gitea refuses to run as root unless told it is on purpose.
		root = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n"
	}
	ini := fmt.Sprintf(`APP_NAME = platform-demo integration tests
RUN_USER = %[1]s
RUN_MODE = prod
WORK_PATH = %[2]s
%[5]s
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
ROOT_URL = http://127.0.0.1:%[3]d/
LOCAL_ROOT_URL = http://127.0.0.1:%[3]d/
DOMAIN = 127.0.0.1
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[4]s
APP_DATA_PATH = %[2]s/data

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s
INTERNAL_TOKEN = %[7]s

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
DEFAULT_KEEP_EMAIL_PRIVATE = true

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[actions]
ENABLED = false

[packages]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, u.Username, s.dir, port, s.Build.Source, root, randomHex(32), randomHex(48))
	return os.WriteFile(s.config(), []byte(ini), 0o600)
}

// env is the environment of Gitea's processes: nothing of the test's own
// but PATH (for git), a home of its own for git's configuration, and the
// user's name.
func (s *Server) env() []string {
	home := filepath.Join(s.dir, "home")
	os.MkdirAll(home, 0o700)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GITEA_WORK_DIR=" + s.dir, "LANG=C.UTF-8"}
	if u, err := user.Current(); err == nil {
		env = append(env, "USER="+u.Username)
	}
	return env
}

// gitea runs a gitea command against the server's configuration.
func (s *Server) gitea(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Build.Binary, append([]string{"--config", s.config(), "--work-path", s.dir}, args...)...)
	cmd.Env, cmd.Dir = s.env(), s.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return lastLines(stderr.String(), 20), err
	}
	return stdout.String(), nil
}

// createUser creates a user with a random password nobody learns and
// returns an access token of it with every scope.
func (s *Server) createUser(ctx context.Context, name string, admin bool) (string, error) {
	args := []string{"admin", "user", "create", "--username", name, "--email", name + "@example.invalid",
		"--random-password", "--must-change-password=false",
		"--access-token", "--access-token-name", "integration", "--access-token-scopes", "all"}
	if admin {
		args = append(args, "--admin")
	}
	out, err := s.gitea(ctx, args...)
	if err != nil {
		return "", fmt.Errorf("gitea admin user create %s: %v\n%s", name, err, out)
	}
	const marker = "Access token was successfully created... "
	i := strings.Index(out, marker)
	if i < 0 {
		return "", fmt.Errorf("gitea admin user create %s printed no access token", name)
	}
	token, _, _ := strings.Cut(out[i+len(marker):], "\n")
	return strings.TrimSpace(token), nil
}

// waitReady waits until the API answers GET /version.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		resp, err := http.Get(s.URL + "version")
		if err == nil {
			var v struct{ Version string }
			json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Version = v.Version
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("gitea web exited before serving:\n%s", lastLines(s.output(), 40))
		case <-ctx.Done():
			return fmt.Errorf("gitea web did not answer %sversion: %v\n%s", s.URL, err, lastLines(s.output(), 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the server, politely first.
func (s *Server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

type syncWriter struct{ s *Server }

func (w syncWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.logs.Write(p)
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Answer is an answer of the API: its status and body.
type Answer struct {
	Status int
	Body   string
}

// Decode decodes the body into v.
func (a Answer) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.Body), v); err != nil {
		t.Fatalf("decode %q: %v", a.Body, err)
	}
}

func (a Answer) String() string { return fmt.Sprintf("%d %s", a.Status, strings.TrimSpace(a.Body)) }

// As calls the API as the admin (admin true) or the bot, with body encoded
// as JSON, and returns the answer whatever its status.
func (s *Server) As(t testing.TB, admin bool, method, path string, body any) Answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+strings.TrimPrefix(path, "/"), r)
	if err != nil {
		t.Fatal(err)
	}
	token := s.BotToken
	if admin {
		token = s.adminToken
	}
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Answer{Status: resp.StatusCode, Body: string(out)}
}

// Admin calls the API as the admin and fails the test unless the status is
// one of want (2xx when none is given).
func (s *Server) Admin(t testing.TB, method, path string, body any, want ...int) Answer {
	t.Helper()
	a := s.As(t, true, method, path, body)
	ok := a.Status/100 == 2
	if len(want) > 0 {
		ok = false
		for _, w := range want {
			ok = ok || a.Status == w
		}
	}
	if !ok {
		t.Fatalf("%s %s = %s", method, path, a)
	}
	return a
}

// CreateRepo creates the private repository fullName ("org/name"), the
// organisation first if needed, with one commit on main holding files,
// and gives BotUser write access to it.
func (s *Server) CreateRepo(t testing.TB, fullName string, files map[string]string) {
	t.Helper()
	org, name, _ := strings.Cut(fullName, "/")
	if s.As(t, true, "GET", "orgs/"+org, nil).Status == http.StatusNotFound {
		s.Admin(t, "POST", "orgs", map[string]any{"username": org, "visibility": "private"})
	}
	s.Admin(t, "POST", "orgs/"+org+"/repos", map[string]any{"name": name, "private": true, "default_branch": "main"})
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var changes []map[string]string
	for _, p := range paths {
		changes = append(changes, map[string]string{"operation": "create", "path": p, "content": base64.StdEncoding.EncodeToString([]byte(files[p]))})
	}
	s.Admin(t, "POST", "repos/"+fullName+"/contents", map[string]any{"branch": "main", "message": "seed the gitops repository", "files": changes})
	s.Admin(t, "PUT", "repos/"+fullName+"/collaborators/"+BotUser, map[string]string{"permission": "write"})
}

// File returns the content of path on branch, read through the API.
func (s *Server) File(t testing.TB, repo, branch, path string) []byte {
	t.Helper()
	a := s.Admin(t, "GET", "repos/"+repo+"/raw/"+escapePath(path)+"?ref="+url.QueryEscape(branch), nil)
	return []byte(a.Body)
}

// Pull is a pull request as the API shows it.
type Pull struct {
	Number    int    `json:"number"`
	State     string `json:"state"`
	Title     string `json:"title"`
	Merged    bool   `json:"merged"`
	Mergeable bool   `json:"mergeable"`
	MergeSHA  string `json:"merge_commit_sha"`
	HTMLURL   string `json:"html_url"`
	Head      struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

// Pulls lists every pull request of repo, newest first.
func (s *Server) Pulls(t testing.TB, repo string) []Pull {
	t.Helper()
	var out []Pull
	s.Admin(t, "GET", "repos/"+repo+"/pulls?state=all&limit=50", nil).Decode(t, &out)
	return out
}

// Branches lists the branch names of repo.
func (s *Server) Branches(t testing.TB, repo string) []string {
	t.Helper()
	var list []struct{ Name string }
	s.Admin(t, "GET", "repos/"+repo+"/branches?limit=50", nil).Decode(t, &list)
	var out []string
	for _, b := range list {
		out = append(out, b.Name)
	}
	sort.Strings(out)
	return out
}

// Commits lists the commit messages of branch, newest first.
func (s *Server) Commits(t testing.TB, repo, branch string) []string {
	t.Helper()
	var list []struct {
		SHA    string `json:"sha"`
		Commit struct {
			Message string `json:"message"`
		} `json:"commit"`
	}
	s.Admin(t, "GET", "repos/"+repo+"/commits?sha="+url.QueryEscape(branch)+"&limit=50&stat=false&files=false", nil).Decode(t, &list)
	var out []string
	for _, c := range list {
		out = append(out, c.Commit.Message)
	}
	return out
}

// Protection is a branch protection, in the fields of Gitea's API.
type Protection struct {
	// Push allows pushes (and Contents API writes) to the branch.
	Push bool
	// StatusChecks lists the status contexts that must succeed before a
	// pull request merges.
	StatusChecks []string
	// Approvals is the number of approving reviews a merge needs.
	Approvals int
}

// Protect protects branch of repo.
func (s *Server) Protect(t testing.TB, repo, branch string, p Protection) {
	t.Helper()
	s.Admin(t, "POST", "repos/"+repo+"/branch_protections", map[string]any{
		"rule_name": branch, "branch_name": branch,
		"enable_push":           p.Push,
		"enable_status_check":   len(p.StatusChecks) > 0,
		"status_check_contexts": p.StatusChecks,
		"required_approvals":    p.Approvals,
	})
}

// SetStatus sets a commit status on sha, as a CI system reports a check.
func (s *Server) SetStatus(t testing.TB, repo, sha, context, state string) {
	t.Helper()
	s.Admin(t, "POST", "repos/"+repo+"/statuses/"+sha, map[string]string{"context": context, "state": state, "description": "set by the integration test"})
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		parts[i] = url.PathEscape(part)
	}
	return strings.Join(parts, "/")
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Host is the server as Answers asks it; each repository it makes is new.
func (s *Server) Host() Host {
	n := 0
	return Host{
		URL: s.URL, Bot: s.BotToken, Admin: s.adminToken, Settle: 15 * time.Second, Quiet: 3 * time.Second,
		NewRepo: func(t testing.TB) string {
			n++
			repo := fmt.Sprintf("andrelair-platform/answers-%d", n)
			s.CreateRepo(t, repo, map[string]string{"manifests/a.yaml": "a: 1\n", "manifests/b.yaml": "b: 1\n"})
			return repo
		},
	}
}
