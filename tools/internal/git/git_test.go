package git

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIsolatedIgnoresAmbientConfig guards the bump's commits: a user's
// global configuration (signing that would prompt, a hook, another
// identity) must not change or break what the pipeline commits, while a
// command on the source repository still sees it.
func TestIsolatedIgnoresAmbientConfig(t *testing.T) {
	home := t.TempDir()
	global := filepath.Join(home, ".gitconfig")
	config := "[user]\n\tname = Ambient User\n\temail = ambient@example.com\n[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = /nonexistent/gpg\n"
	if err := os.WriteFile(global, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	ctx := context.Background()
	dir := t.TempDir()

	if got, err := (Cmd{Dir: dir}).Run(ctx, "config", "user.name"); err != nil || got != "Ambient User" {
		t.Errorf("ambient `git config user.name` = %q, %v; want the user's own configuration", got, err)
	}
	bot := Identity{Name: "bot", Email: "bot@example.com"}
	iso := Cmd{Dir: dir, Isolated: true, Author: bot}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"commit", "-q", "--allow-empty", "-m", "first"}} {
		if _, err := iso.Run(ctx, args...); err != nil {
			t.Fatalf("isolated git %v: %v", args, err)
		}
	}
	if got, err := iso.Run(ctx, "log", "-1", "--format=%an <%ae> %cn"); err != nil || got != "bot <bot@example.com> bot" {
		t.Errorf("commit identity = %q, %v; want the bot's, unsigned", got, err)
	}
}

// TestError guards messages: the exit status is kept for callers that read
// it (merge-base answers 1 for "no"), and a secret never reaches the text.
func TestError(t *testing.T) {
	const secret = "ghp_SENTINEL1234567890abcdefghijklmnopqr"
	_, err := Cmd{Dir: t.TempDir(), Isolated: true, Secret: secret}.Run(context.Background(), "rev-parse", "--verify", secret)
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.ExitCode != 128 {
		t.Fatalf("Run(rev-parse of nothing) error = %v, want a *git.Error with exit 128", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(gerr.Output, secret) {
		t.Errorf("error shows the secret: %q", gerr.Output)
	}
	if !strings.HasPrefix(err.Error(), "git rev-parse: fatal:") {
		t.Errorf("Error() = %q, want it to start with the command and git's message", err)
	}
}
