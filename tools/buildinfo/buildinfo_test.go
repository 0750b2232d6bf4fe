package buildinfo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newRepo makes a git repository with one commit at a fixed time and returns
// its directory and HEAD.
func newRepo(t *testing.T) (dir, head string) {
	t.Helper()
	dir = t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"GIT_AUTHOR_DATE=2026-05-08T22:08:15Z", "GIT_COMMITTER_DATE=2026-05-08T22:08:15Z",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "a.txt")
	run("commit", "-q", "-m", "first")
	return dir, run("rev-parse", "HEAD")
}

func TestRead(t *testing.T) {
	dir, head := newRepo(t)
	const other = "77b10fa9cd12d563820e1230a4fdceccfb199718"
	wantTime := time.Date(2026, 5, 8, 22, 8, 15, 0, time.UTC)

	tests := []struct {
		name    string
		dirty   bool
		opts    Options
		want    Info
		wantErr string
	}{
		{name: "clean HEAD", opts: Options{Dir: dir}, want: Info{Commit: head, Version: head[:7], Time: wantTime}},
		{name: "GITHUB_SHA wins over HEAD", opts: Options{Dir: dir, GitHubSHA: other}, want: Info{Commit: other, Version: "77b10fa"}},
		{name: "dirty work tree", dirty: true, opts: Options{Dir: dir}, want: Info{Commit: head, Version: head[:7] + "-dirty", Dirty: true, Time: wantTime}},
		{name: "short GITHUB_SHA", opts: Options{Dir: dir, GitHubSHA: "77b10fa"}, wantErr: "not a full 40-character sha"},
		{name: "not a repository", opts: Options{Dir: t.TempDir()}, wantErr: "a git work tree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := "a\n"
			if tt.dirty {
				content = "changed\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Read(context.Background(), tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Read() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLDFlags(t *testing.T) {
	got := LDFlags("77b10fa", "77b10fa9cd12d563820e1230a4fdceccfb199718")
	want := "-s -w" +
		" -X github.com/andrelair-platform/platform-demo/services/kit.version=77b10fa" +
		" -X github.com/andrelair-platform/platform-demo/services/kit.commit=77b10fa9cd12d563820e1230a4fdceccfb199718" +
		" -X main.version=77b10fa -X main.commit=77b10fa9cd12d563820e1230a4fdceccfb199718"
	if got != want {
		t.Errorf("LDFlags() = %q, want %q", got, want)
	}
}
