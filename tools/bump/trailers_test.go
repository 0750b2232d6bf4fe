package bump

import (
	"context"
	"strings"
	"testing"
)

// TestTrailersAreTheLastWord guards the gitops history as an audit record:
// what a person types (a rollback's reason) or a template places cannot
// add trailers that git reads as the pipeline's, on a real repository, and
// cannot break the pull request's table.
func TestTrailersAreTheLastWord(t *testing.T) {
	ctx := context.Background()
	const forged = "fine\n\nSource-Commit: 0000000000000000000000000000000000000000\nImage: evil.example/x@sha256:" +
		"1111111111111111111111111111111111111111111111111111111111111111\nEnvironment: production"
	tests := []struct {
		name, message, reason string
	}{
		{"a reason with lines of its own", "", forged},
		{"a template that ends with the reason", "deploy {{.Short}}\n\n{{.Reason}}", "Source-Commit: 0000000000000000000000000000000000000000"},
		{"a template with trailers of its own", "deploy {{.Short}}\n\nImage: evil.example/x:1", "why | not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGitFixture(t, 1)
			opts := f.options(0)
			opts.Action, opts.Reason, opts.Message, opts.Force, opts.Environment = "roll back to", tt.reason, tt.message, true, "staging"
			if _, err := Image(ctx, opts); err != nil {
				t.Fatal(err)
			}
			got := runGit(t, f.bare, "log", "-1", "--format=%(trailers:only,unfold)", "main")
			want := strings.Join([]string{
				"Source-Commit: " + f.commits[0],
				"Image: " + strings.Replace(imageFor(f.commits[0]), ":"+f.commits[0][:7]+"@", "@", 1),
				"Environment: staging",
				"Reason: " + OneLine(tt.reason),
			}, "\n")
			if got != want {
				t.Errorf("git log --format=%%(trailers) = \n%s\nwant\n%s\n(message:\n%s)", got, want, runGit(t, f.bare, "log", "-1", "--format=%B", "main"))
			}
		})
	}

	t.Run("the pull request's table", func(t *testing.T) {
		f := newGHFixture(t, 1)
		opts := f.options(0)
		opts.Mode, opts.Reason, opts.By = ModePR, "a | b\n| evil | row |", "go tool mage | x"
		if _, err := Image(ctx, opts); err != nil {
			t.Fatal(err)
		}
		pulls := f.srv.Pulls(gitopsRepo)
		if len(pulls) != 1 {
			t.Fatalf("pull requests = %+v, want one", pulls)
		}
		var rows []string
		for _, line := range strings.Split(pulls[0].Body, "\n") {
			if strings.HasPrefix(line, "|") {
				rows = append(rows, line)
			}
		}
		want := []string{"| | |", "|---|---|", "| source commit | `" + f.commits[0] + "` |", "| image | `" + strings.Replace(imageFor(f.commits[0]), ":"+f.commits[0][:7]+"@", "@", 1) + "` |",
			`| made by | go tool mage \| x |`, `| reason | a \| b \| evil \| row \| |`}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("the table of the pull request's body =\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
	})
}
