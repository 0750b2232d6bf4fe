package githubtest

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
)

func TestCommitsByPath(t *testing.T) {
	ctx := context.Background()
	srv := New()
	t.Cleanup(srv.Close)
	srv.AddToken(token, Token{})
	first := srv.CreateRepo("o/r", "main", map[string]string{"apps/a.yaml": "a: 0\n", "apps/b.yaml": "b: 0\n"})
	// a1, b1, a2, b2, a3 (a3 also adds c.yaml), then an empty commit.
	var a []string
	for i, f := range []string{"a", "b", "a", "b", "a"} {
		files := map[string]string{"apps/" + f + ".yaml": f + ": " + string(rune('1'+i)) + "\n"}
		if i == 4 {
			files["apps/c.yaml"] = "c: 1\n"
		}
		sha := srv.CommitFiles("o/r", "main", "edit "+f, files)
		if f == "a" {
			a = append(a, sha)
		}
	}
	srv.CommitFiles("o/r", "main", "nothing", nil)
	// A side branch's commit is not in main's history.
	srv.CommitFiles("o/r", "side", "side a", map[string]string{"apps/a.yaml": "side\n"})
	c := client(t, srv, token)

	tests := []struct {
		name    string
		opts    github.CommitsListOptions
		want    []string
		next    int
		message string
	}{
		{"file, newest first", github.CommitsListOptions{SHA: "main", Path: "apps/a.yaml"}, []string{a[2], a[1], a[0], first}, 0, ""},
		{"first page", github.CommitsListOptions{SHA: "main", Path: "apps/a.yaml", ListOptions: github.ListOptions{PerPage: 3}}, []string{a[2], a[1], a[0]}, 2, ""},
		{"second page", github.CommitsListOptions{SHA: "main", Path: "apps/a.yaml", ListOptions: github.ListOptions{PerPage: 3, Page: 2}}, []string{first}, 0, ""},
		{"one per page", github.CommitsListOptions{SHA: "main", Path: "apps/a.yaml", ListOptions: github.ListOptions{PerPage: 1}}, []string{a[2]}, 2, "edit a"},
		{"from a sha", github.CommitsListOptions{SHA: a[1], Path: "apps/a.yaml"}, []string{a[1], a[0], first}, 0, ""},
		{"added file", github.CommitsListOptions{Path: "apps/c.yaml"}, []string{a[2]}, 0, ""},
		{"directory", github.CommitsListOptions{SHA: "main", Path: "apps", ListOptions: github.ListOptions{PerPage: 2}}, []string{a[2], srv.Log("o/r", "main")[2].SHA}, 2, ""},
		{"untouched path", github.CommitsListOptions{SHA: "main", Path: "apps/none.yaml"}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, resp, err := c.Repositories.ListCommits(ctx, "o", "r", &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rc := range list {
				got = append(got, rc.GetSHA())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ListCommits(%+v) = %v, want %v", tt.opts, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ListCommits(%+v) = %v, want %v", tt.opts, got, tt.want)
				}
			}
			if resp.NextPage != tt.next {
				t.Errorf("NextPage = %d, want %d", resp.NextPage, tt.next)
			}
			if tt.message != "" {
				rc := list[0]
				if rc.Commit.GetMessage() != tt.message || rc.Commit.Author.GetName() != "octocat" || rc.Commit.Author.GetDate().IsZero() ||
					len(rc.Parents) != 1 || rc.GetHTMLURL() == "" {
					t.Errorf("commit = %+v, want message %q, an author with a date, one parent", rc, tt.message)
				}
			}
		})
	}

	rc, _, err := c.Repositories.GetCommit(ctx, "o", "r", a[2], nil)
	if err != nil || rc.GetSHA() != a[2] || len(rc.Files) != 2 || rc.Files[0].GetFilename() != "apps/a.yaml" || rc.Files[0].GetStatus() != "modified" ||
		rc.Files[1].GetFilename() != "apps/c.yaml" || rc.Files[1].GetStatus() != "added" {
		t.Errorf("GetCommit = %+v, %v; want a.yaml modified and c.yaml added", rc, err)
	}
	_, _, err = c.Repositories.GetCommit(ctx, "o", "r", "0000000000000000000000000000000000000000", nil)
	wantError(t, "GetCommit(unknown)", err, http.StatusUnprocessableEntity, "No commit found")

	// Contents at a full commit sha from the history.
	file, _, _, err := c.Repositories.GetContents(ctx, "o", "r", "apps/a.yaml", &github.RepositoryContentGetOptions{Ref: a[1]})
	if content, _ := file.GetContent(); err != nil || content != "a: 3\n" {
		t.Errorf("GetContents(ref %s) = %q, %v; want a: 3", a[1], content, err)
	}
}
