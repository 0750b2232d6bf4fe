package bump

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path string
		want string // in the error; empty: accepted
	}{
		{"manifests/platform-demo/00-deployment.yaml", ""},
		{"deployment.yaml", ""},
		{".github/x.yaml", ""},
		{"", "empty"},
		{"../../elsewhere/x.yaml", "climbs out"},
		{"manifests/../../x.yaml", "climbs out"},
		{"manifests/..", "climbs out"},
		{"/etc/passwd", "absolute"},
		{"manifests\\x.yaml", "backslash"},
		{"./manifests/x.yaml", "not clean"},
		{"manifests//x.yaml", "not clean"},
		{"manifests/", "not clean"},
		{".", "not clean"},
		{".git/config", "inside .git"},
		{"sub/.GIT/hooks/pre-commit", "inside .git"},
	}
	for _, tt := range tests {
		err := CheckPath(tt.path)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckPath(%q) = %v, want nil", tt.path, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckPath(%q) = %v, want an error saying %q", tt.path, err, tt.want)
		}
	}
}

// TestPathOutsideRepository guards the files beside the gitops
// repository: a path that climbs out of it is refused before the API is
// asked or a clone is made, and a symbolic link committed in the
// repository cannot lead the git backend's read or write outside its clone.
func TestPathOutsideRepository(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "00-deployment.yaml")
	if err := os.WriteFile(sentinel, []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	untouched := func(t *testing.T) {
		t.Helper()
		if b, err := os.ReadFile(sentinel); err != nil || string(b) != deployment {
			t.Errorf("the file outside the repository changed: %v\n%s", err, b)
		}
	}
	// From the clone, a temporary directory, up to the sentinel: what the
	// git backend wrote to before.
	climb, err := filepath.Rel(filepath.Join(os.TempDir(), "bump-gitops-0"), sentinel)
	if err != nil || !strings.HasPrefix(climb, "..") {
		t.Fatalf("no relative path from the temporary directory to %s: %q, %v", sentinel, climb, err)
	}

	t.Run("through the API", func(t *testing.T) {
		f := newGHFixture(t, 1)
		opts := f.options(0)
		opts.Path = "manifests/../../" + climb
		for _, op := range []func() error{
			func() error { _, err := Image(ctx, opts); return err },
			func() error { _, err := History(ctx, opts, 5); return err },
		} {
			if err := op(); err == nil || !strings.Contains(err.Error(), "climbs out of the repository") {
				t.Errorf("= %v, want the path refused", err)
			}
		}
		if n := f.srv.Requests(); n != 0 {
			t.Errorf("the API got %d requests, want none", n)
		}
	})
	t.Run("with git", func(t *testing.T) {
		f := newGitFixture(t, 1)
		opts := f.options(0)
		opts.Path = climb
		if _, err := Image(ctx, opts); err == nil || !strings.Contains(err.Error(), "climbs out of the repository") {
			t.Errorf("Image() = %v, want the path refused", err)
		}
		untouched(t)
	})
	t.Run("a symbolic link in the repository", func(t *testing.T) {
		f := newGitFixture(t, 1)
		work := filepath.Join(t.TempDir(), "work")
		runGit(t, t.TempDir(), "clone", "-q", f.bare, work)
		if err := os.Symlink(outside, filepath.Join(work, "linked")); err != nil {
			t.Fatal(err)
		}
		runGit(t, work, "add", "linked")
		runGit(t, work, "commit", "-q", "-m", "a link out of the repository")
		runGit(t, work, "push", "-q", "origin", "main")
		opts := f.options(0)
		opts.Path = "linked/00-deployment.yaml"
		_, err := Image(ctx, opts)
		if err == nil || !strings.Contains(err.Error(), "linked/00-deployment.yaml") {
			t.Errorf("Image() through a link out of the repository = %v, want it refused", err)
		}
		if _, err := History(ctx, opts, 5); err == nil {
			t.Errorf("History() through a link out of the repository = nil error, want it refused")
		}
		untouched(t)
	})
}

func TestCheckBranch(t *testing.T) {
	for _, b := range []string{"main", "release/v1.2", "env-production", "deploy_2"} {
		if err := CheckBranch(b); err != nil {
			t.Errorf("CheckBranch(%q) = %v, want nil", b, err)
		}
	}
	for _, b := range []string{"", "-main", "main:evil", "a b", "main\nx", "a..b", "a/", "/a", "a//b", ".hidden", "x.lock", "a.", "@", "a@{1}", "a~1", "a^", "a*", "a?", "a[", `a\b`} {
		if err := CheckBranch(b); err == nil {
			t.Errorf("CheckBranch(%q) = nil, want an error", b)
		}
	}
}
