package targets_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/githubtest"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/targets"
)

// TestSettingsRefusedWhenTheyLoad runs the targets with settings that used
// to load and then fail later, write outside the gitops repository, or
// never fail at all: each is refused before anything runs, naming the
// variable (or the line of the environments file) that was set, and
// nothing is written, in the repositories or outside them.
func TestSettingsRefusedWhenTheyLoad(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.CreateRepo("o/gitops", "main", map[string]string{stagingPath: w.manifest(stagingPath)})
	const token = "ghp_settingstest0123456789abcdefghijklmn"
	gh.AddToken(token, githubtest.Token{Login: "bot", Scopes: []string{"repo"}})

	// From the bump's clone, a temporary directory, up to the file outside.
	climb, err := filepath.Rel(filepath.Join(os.TempDir(), "bump-gitops-0"), w.sentinel)
	if err != nil {
		t.Fatal(err)
	}
	bump := func(ctx context.Context, e targets.Env) error { return targets.Bump(ctx, e, w.images[1], nil) }
	status := func(ctx context.Context, e targets.Env) error { return targets.Status(ctx, e, nil, nil) }
	local := map[string]string{"GITOPS_REPO": "", "KO_DOCKER_REPO": "", "VERIFY_URL": "", "VERIFY_URL_PRODUCTION": ""}
	with := func(base map[string]string, more map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		set    map[string]string
		target func(context.Context, targets.Env) error
		want   string
	}{
		{"bump with git, to a path that climbs out", map[string]string{"GITOPS_PATH": climb}, bump,
			`GITOPS_PATH="` + climb + `" climbs out of the repository (a .. part): give the manifest's path inside the gitops repository`},
		{"bump on the local loop, to a path that climbs out", with(local, map[string]string{"GITOPS_PATH": "manifests/../../../" + climb}), bump,
			`GITOPS_PATH="manifests/../../../` + climb + `" climbs out`},
		{"bump through the API, to a path that climbs out", map[string]string{"GITOPS_REPO": "o/gitops", "GITHUB_API_URL": gh.URL, "GITOPS_TOKEN": token, "GITOPS_PATH": "manifests/../../x.yaml"}, bump,
			`GITOPS_PATH="manifests/../../x.yaml" climbs out`},
		{"status of another environment's manifest outside", map[string]string{"GITOPS_PATH_PRODUCTION": "/etc/hosts"}, status,
			`GITOPS_PATH_PRODUCTION="/etc/hosts" is absolute`},
		{"status with the first environment's own variable", map[string]string{"VERIFY_URL_STAGING": "ftp://x"}, status,
			`VERIFY_URL_STAGING="ftp://x" is not an http(s) URL`},
		{"status with a local address that is no address", with(local, map[string]string{"LOCAL_ADDR": "garbage"}), status,
			`LOCAL_ADDR="garbage" is not host:port (missing port in address): want an address such as 127.0.0.1:8080`},
		{"bump with a blank message", map[string]string{"BUMP_MESSAGE": " "}, bump,
			`BUMP_MESSAGE=" " is blank: unset it for the default message`},
		{"bump with an author email that is no email address", map[string]string{"BUMP_AUTHOR_NAME": "Release Bot", "BUMP_AUTHOR_EMAIL": "not an email"}, bump,
			`BUMP_AUTHOR_EMAIL: "not an email" is not an email address`},
	}
	before := w.gitops("rev-parse", "main")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := w.run(ctx, tt.set, tt.target)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("= %v, want an error containing %q\n%s%s", err, tt.want, stdout, stderr)
			}
			if stdout != "" {
				t.Errorf("printed %q before refusing", stdout)
			}
		})
	}
	if after := w.gitops("rev-parse", "main"); after != before {
		t.Errorf("the gitops repository moved from %s to %s", before, after)
	}
	if n := gh.Requests(); n != 0 {
		t.Errorf("the API got %d requests, want none", n)
	}
	if _, err := os.Stat(filepath.Join(w.root, ".state")); err == nil {
		t.Errorf("the state directory was created by targets that refused their settings")
	}
}

// TestEnvironmentsFileOutside guards status, which should change nothing,
// against an environments file whose path leads outside the repository:
// it copied the folder two levels above its clone elsewhere.
func TestEnvironmentsFileOutside(t *testing.T) {
	w := newWorld(t)
	file := filepath.Join(w.root, "gitops", "environments.yaml")
	rel, err := filepath.Rel(filepath.Join(w.root, "gitops"), w.sentinel)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("environments:\n  - name: staging\n    path: "+rel+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := w.run(context.Background(), map[string]string{"GITOPS_REPO": "", "KO_DOCKER_REPO": "", "VERIFY_URL": ""},
		func(ctx context.Context, e targets.Env) error { return targets.Status(ctx, e, nil, nil) })
	want := `gitops/environments.yaml:2: environment "staging": path "` + rel + `" climbs out of the repository (a .. part)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("status = %v, want %q\n%s%s", err, want, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(w.root, ".state")); err == nil {
		t.Errorf("status created the state directory for an environments file it refused")
	}
}

// TestSettingsWarnings guards settings that run, but not as their author
// may think: the warning is on stderr, the result on stdout as before.
func TestSettingsWarnings(t *testing.T) {
	w := newWorld(t)
	asJSON := true
	stdout, stderr, _ := w.run(context.Background(), map[string]string{"VERIFY_URL_QA": "http://qa.example"},
		func(ctx context.Context, e targets.Env) error { return targets.Status(ctx, e, &asJSON, nil) })
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "VERIFY_URL_QA is set, but there is no environment qa: it changes nothing (the environments are staging, production") {
		t.Errorf("status with VERIFY_URL_QA: stderr %q, want a warning naming the environments", stderr)
	}
	if !json.Valid([]byte(stdout)) {
		t.Errorf("status -json with a warning printed something else than JSON:\n%s", stdout)
	}

	// The local loop on every interface runs, and says so.
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("0.0.0.0:%d", port)
	_, stderr, _ = w.run(context.Background(), map[string]string{"GITOPS_REPO": "", "KO_DOCKER_REPO": "", "VERIFY_URL": "", "VERIFY_URL_PRODUCTION": "", "LOCAL_ADDR": addr},
		func(ctx context.Context, e targets.Env) error { return targets.Status(ctx, e, nil, nil) })
	want := fmt.Sprintf("the local rollouts of staging serve on %s (LOCAL_ADDR), every interface of this machine: other machines can reach them; to keep them on this one, use 127.0.0.1:%d", addr, port)
	if !strings.Contains(stderr, want) {
		t.Errorf("status with LOCAL_ADDR=%s: stderr %q, want %q", addr, stderr, want)
	}
}
