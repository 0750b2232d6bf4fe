package doctor_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/doctor"
	"github.com/andrelair-platform/platform-demo/tools/local/gitops"
)

func TestText(t *testing.T) {
	r := doctor.Report{
		Mode: "github",
		Settings: []doctor.Setting{
			{Name: "GITOPS_REPO", Value: "o/r", Source: config.FromEnv},
			{Name: "GITOPS_TOKEN", Value: "(unset)", Source: config.Unset},
		},
		Rows: []doctor.Row{
			{Check: "configuration", Status: doctor.OK, Found: "mode github"},
			{Check: "GITOPS_TOKEN", Status: doctor.Fail, Found: "unset", Fix: "set it\nwith printf"},
			{Check: "~/.netrc", Status: doctor.Warn, Found: "an entry", Fix: "use --no-netrc"},
		},
	}
	want := `Settings (mode github):
  GITOPS_REPO   o/r      env
  GITOPS_TOKEN  (unset)  unset

  ✓  configuration  mode github
  ✗  GITOPS_TOKEN   unset
                    → set it
                      with printf
  !  ~/.netrc       an entry
                    → use --no-netrc

3 checks: 1 failed, 1 warning
`
	if diff := cmp.Diff(want, r.Text()); diff != "" {
		t.Errorf("Text() mismatch (-want +got):\n%s", diff)
	}
	if !r.Failed() {
		t.Errorf("Failed() = false with a failed row")
	}
}

// A full run with every secret set to a sentinel and every remote check
// failing shows no secret anywhere, and lists the configuration.
func TestRunShowsNoSecrets(t *testing.T) {
	gh := gitopsServer(t)
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine 127.0.0.1 login x password "+sentinelPassword+"\n"), 0o600)
	env := githubEnv(gh, sentinelToken+"\n")
	env["KO_DOCKER_REPO"] = closedAddr(t)
	env["REGISTRY_USERNAME"] = "ci"
	env["REGISTRY_PASSWORD"] = sentinelPassword
	env["VERIFY_URL"] = closedURL(t)
	env["ARGOCD_SERVER"] = closedURL(t)
	env["ARGOCD_APP"] = "platform-demo"
	env["ARGOCD_AUTH_TOKEN"] = sentinelArgo
	r := run(t, doctor.Options{Settings: load(t, env), HTTPClient: httpClient, Home: home})
	text := r.Text()
	assertNoSecrets(t, text, sentinelToken, sentinelPassword, sentinelArgo)
	if !r.Failed() {
		t.Errorf("Failed() = false, want true:\n%s", text)
	}
	var checks []string
	for _, row := range r.Rows {
		checks = append(checks, row.Check)
	}
	wantChecks := []string{
		doctor.CheckConfig, doctor.CheckEnvs, doctor.CheckToken, doctor.CheckGitHub, doctor.CheckGitops, doctor.CheckRegistry,
		doctor.CheckNetrc, doctor.CheckVerify, doctor.CheckArgo, doctor.CheckState, doctor.CheckGit,
	}
	if diff := cmp.Diff(wantChecks, checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		`GITOPS_TOKEN\s+ghp_… \(41 characters\)`,
		`REGISTRY_PASSWORD\s+SENT… \(37 characters\)`,
		`ARGOCD_AUTH_TOKEN\s+SENT… \(38 characters\)`,
		`GITOPS_REPO\s+` + regexp.QuoteMeta(gitopsRepo),
	} {
		if !regexp.MustCompile(line).MatchString(text) {
			t.Errorf("settings lack %q:\n%s", line, text)
		}
	}
}

// Only limits the report to the named checks: `mage ci` runs Preflight.
func TestOnly(t *testing.T) {
	s := load(t, map[string]string{"VERIFY_URL": closedURL(t), "LOCAL_REGISTRY_ADDR": closedAddr(t)})
	writeSeed(t, s)
	r := run(t, doctor.Options{Settings: s, HTTPClient: httpClient}, doctor.Preflight...)
	for _, row := range r.Rows {
		if row.Check == doctor.CheckVerify {
			t.Errorf("Preflight ran %s:\n%s", row.Check, r.Text())
		}
	}
	if len(r.Rows) != len(doctor.Preflight) {
		t.Errorf("Preflight gave %d rows, want %d:\n%s", len(r.Rows), len(doctor.Preflight), r.Text())
	}
	if r.Failed() {
		t.Errorf("local preflight failed:\n%s", r.Text())
	}
}

func TestConfiguration(t *testing.T) {
	s := load(t, map[string]string{"GITOPS_REPO": gitopsRepo, "KO_DOCKER_REPO": "ghcr.io/andrelair-platform"})
	r := run(t, doctor.Options{Settings: s}, doctor.CheckConfig)
	want(t, r, doctor.CheckConfig, doctor.OK,
		[]string{"mode github", "images to ghcr.io/andrelair-platform/<service>", "bumps to " + gitopsRepo + " through https://api.github.com/"}, nil)

	loadErr := errors.New("VERIFY_INTERVAL=\"soon\": want a Go duration such as 2s")
	r = run(t, doctor.Options{Settings: s, ConfigErr: loadErr}, doctor.CheckConfig)
	want(t, r, doctor.CheckConfig, doctor.Fail, []string{`VERIFY_INTERVAL="soon"`}, nil)

	// A git URL with a token in it is shown without it.
	s = load(t, map[string]string{"GITOPS_REPO": "https://x-access-token:" + sentinelToken + "@github.com/o/r.git"})
	r = run(t, doctor.Options{Settings: s}, doctor.CheckConfig)
	assertNoSecrets(t, r.Text(), sentinelToken)

	// What the settings allow but should say is a warning of the row.
	s = load(t, map[string]string{"LOCAL_ADDR": "0.0.0.0:8080"})
	r = run(t, doctor.Options{Settings: s}, doctor.CheckConfig)
	want(t, r, doctor.CheckConfig, doctor.Warn, []string{"mode local", "serve on 0.0.0.0:8080 (LOCAL_ADDR), every interface of this machine"}, nil)
}

// TestGitopsTargetOutside guards doctor against a path that leads outside
// the gitops repository: nothing is read there, and nothing is sent.
func TestGitopsTargetOutside(t *testing.T) {
	// As Load returns it, with its error.
	s, err := loadErr(t, map[string]string{"GITOPS_PATH": "../../etc/hosts"})
	if err == nil {
		t.Fatal("Load accepted a path outside the repository")
	}
	r := run(t, doctor.Options{Settings: s, ConfigErr: err}, doctor.CheckGitHub, doctor.CheckGitops)
	want(t, r, doctor.CheckGitops, doctor.Warn, []string{"not checked: the manifest's path leads outside the gitops repository"}, nil)
}

// writeSeed puts the test Deployment where the local gitops repository is
// seeded from.
func writeSeed(t *testing.T, s config.Settings) {
	t.Helper()
	seed := filepath.Join(s.Root, "gitops", filepath.FromSlash(bump.DefaultPath))
	if err := os.MkdirAll(filepath.Dir(seed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seed, []byte(readFile(t, "testdata/deployment.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLocalGitopsTarget(t *testing.T) {
	deployment := readFile(t, "testdata/deployment.yaml")
	t.Run("seed", func(t *testing.T) {
		s := load(t, map[string]string{})
		writeSeed(t, s)
		r := run(t, doctor.Options{Settings: s}, doctor.CheckGitops)
		want(t, r, doctor.CheckGitops, doctor.OK, []string{"seed of the local repository", "runs ghcr.io/andrelair-platform/platform-demo:77b10fa"}, nil)
	})
	t.Run("missing seed", func(t *testing.T) {
		r := run(t, doctor.Options{Settings: load(t, map[string]string{})}, doctor.CheckGitops)
		want(t, r, doctor.CheckGitops, doctor.Fail, []string{"seed is unreadable"}, []string{"GITOPS_PATH"})
	})
	t.Run("repository", func(t *testing.T) {
		if _, err := exec.LookPath("git"); err != nil {
			t.Skip("git not installed")
		}
		s := load(t, map[string]string{})
		seed := t.TempDir()
		p := filepath.Join(seed, filepath.FromSlash(bump.DefaultPath))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(deployment), 0o644)
		if _, err := gitops.Init(context.Background(), gitops.Options{Dir: s.LocalGitopsDir(), Seed: seed, Branch: "main"}); err != nil {
			t.Fatal(err)
		}
		r := run(t, doctor.Options{Settings: s}, doctor.CheckGitops)
		want(t, r, doctor.CheckGitops, doctor.OK, []string{s.LocalGitopsDir() + "@main:", "runs ghcr.io/andrelair-platform/platform-demo:77b10fa"}, nil)

		s = load(t, map[string]string{"PIPELINE_STATE_DIR": s.StateDir, "GITOPS_CONTAINER": "web"})
		r = run(t, doctor.Options{Settings: s}, doctor.CheckGitops)
		want(t, r, doctor.CheckGitops, doctor.Fail, []string{`"web"`}, []string{"GITOPS_CONTAINER"})
	})
}

func TestStateDir(t *testing.T) {
	t.Run("missing but creatable", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", ".state")
		r := run(t, doctor.Options{Settings: load(t, map[string]string{"PIPELINE_STATE_DIR": dir})}, doctor.CheckState)
		want(t, r, doctor.CheckState, doctor.OK, []string{"created on first use"}, nil)
	})
	t.Run("writable", func(t *testing.T) {
		r := run(t, doctor.Options{Settings: load(t, map[string]string{})}, doctor.CheckState)
		want(t, r, doctor.CheckState, doctor.OK, []string{"is writable"}, nil)
	})
	t.Run("a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "state")
		os.WriteFile(file, nil, 0o644)
		r := run(t, doctor.Options{Settings: load(t, map[string]string{"PIPELINE_STATE_DIR": file})}, doctor.CheckState)
		want(t, r, doctor.CheckState, doctor.Fail, []string{"is a file"}, []string{"PIPELINE_STATE_DIR"})
	})
	t.Run("read-only", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only directories")
		}
		dir := t.TempDir()
		os.Chmod(dir, 0o555)
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		r := run(t, doctor.Options{Settings: load(t, map[string]string{"PIPELINE_STATE_DIR": dir})}, doctor.CheckState)
		want(t, r, doctor.CheckState, doctor.Fail, []string{"not writable"}, []string{"PIPELINE_STATE_DIR"})
	})
	t.Run("github mode", func(t *testing.T) {
		s := load(t, map[string]string{"GITOPS_REPO": gitopsRepo, "KO_DOCKER_REPO": "ghcr.io/o/r"})
		r := run(t, doctor.Options{Settings: s}, doctor.CheckState)
		want(t, r, doctor.CheckState, doctor.OK, []string{"not needed"}, nil)
	})
}

func TestGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := run(t, doctor.Options{Settings: load(t, map[string]string{})}, doctor.CheckGit)
	want(t, r, doctor.CheckGit, doctor.OK, []string{"git version"}, nil)
}

// TestRuntime guards LOCAL_RUNTIME=podman on a machine where podman was
// installed without its recommended packages: the row names the package
// that is missing, catatonit, before a `kube play` fails on it.
func TestRuntime(t *testing.T) {
	bin, helpers := t.TempDir(), t.TempDir()
	for _, p := range []string{"podman", "runc"} {
		if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	podmanEnv := map[string]string{"LOCAL_RUNTIME": "podman"}

	r := run(t, doctor.Options{Settings: load(t, podmanEnv), PodmanHelperDirs: []string{helpers}}, doctor.CheckRuntime)
	want(t, r, doctor.CheckRuntime, doctor.Fail, []string{"catatonit not found in " + helpers + " or PATH"}, []string{"apt-get install catatonit"})

	if err := os.WriteFile(filepath.Join(helpers, "catatonit"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = run(t, doctor.Options{Settings: load(t, podmanEnv), PodmanHelperDirs: []string{helpers}}, doctor.CheckRuntime)
	want(t, r, doctor.CheckRuntime, doctor.OK, []string{"catatonit: " + filepath.Join(helpers, "catatonit")}, nil)

	r = run(t, doctor.Options{Settings: load(t, map[string]string{}), PodmanHelperDirs: []string{helpers}}, doctor.CheckRuntime)
	if len(r.Rows) != 0 {
		t.Errorf("the default runtime has rows %+v, want none: a host process needs no program", r.Rows)
	}
}
