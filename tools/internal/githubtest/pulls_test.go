package githubtest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
)

// apiError returns the status and message of a go-github error, or 0 and
// the error text when it is not an *ErrorResponse.
func apiError(err error) (int, string) {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		msg := er.Message
		for _, e := range er.Errors {
			msg += " | " + e.Message
		}
		return er.Response.StatusCode, msg
	}
	if err == nil {
		return 0, ""
	}
	return 0, err.Error()
}

// wantError fails unless err is an API error with this status whose
// message contains msg.
func wantError(t *testing.T, what string, err error, status int, msg string) {
	t.Helper()
	if code, got := apiError(err); code != status || !strings.Contains(got, msg) {
		t.Errorf("%s: error = %v, want %d %q", what, err, status, msg)
	}
}

// branchWithChange creates branch from main through the git refs API and
// changes apps/a.yaml on it through the Contents API.
func branchWithChange(t *testing.T, c *github.Client, branch, content string) {
	t.Helper()
	ctx := context.Background()
	main, _, err := c.Git.GetRef(ctx, "o", "r", "heads/main")
	if err != nil {
		t.Fatal(err)
	}
	ref, resp, err := c.Git.CreateRef(ctx, "o", "r", &github.Reference{Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: main.Object.SHA}})
	if err != nil || resp.StatusCode != http.StatusCreated || ref.GetRef() != "refs/heads/"+branch || ref.Object.GetSHA() != main.Object.GetSHA() {
		t.Fatalf("CreateRef(%s) = %v, %v; want 201 at %s", branch, ref, err, main.Object.GetSHA())
	}
	file, _, _, err := c.Repositories.GetContents(ctx, "o", "r", "apps/a.yaml", &github.RepositoryContentGetOptions{Ref: branch})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Repositories.UpdateFile(ctx, "o", "r", "apps/a.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("bump a"), Content: []byte(content), SHA: file.SHA, Branch: github.String(branch),
	}); err != nil {
		t.Fatal(err)
	}
}

func newPullServer(t *testing.T, opts ...Option) (*Server, *github.Client) {
	t.Helper()
	srv := New(opts...)
	t.Cleanup(srv.Close)
	srv.AddToken(token, Token{Login: "bot", Scopes: []string{"repo"}})
	srv.CreateRepo("o/r", "main", map[string]string{"apps/a.yaml": "a: 1\n", "apps/b.yaml": "b: 1\n"})
	return srv, client(t, srv, token)
}

func TestPullRequestMerge(t *testing.T) {
	tests := []struct {
		method      string
		title       string
		wantParents int
		wantMessage string
	}{
		{"merge", "", 2, "Merge pull request #1 from o/feature/x"},
		{"squash", "", 1, "Merge pull request #1 from o/feature/x"},
		{"squash", "deploy a (#1)", 1, "deploy a (#1)"},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.title, func(t *testing.T) {
			ctx := context.Background()
			srv, c := newPullServer(t)
			branchWithChange(t, c, "feature/x", "a: 2\n")
			// The base moves on meanwhile; the merge keeps that change.
			srv.CommitFiles("o/r", "main", "bump b", map[string]string{"apps/b.yaml": "b: 2\n"})
			baseBefore := srv.Log("o/r", "main")[0].SHA
			headSHA := srv.Log("o/r", "feature/x")[0].SHA

			pr, resp, err := c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{
				Title: github.String("deploy a"), Head: github.String("feature/x"), Base: github.String("main"), Body: github.String("why"),
			})
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("Create = %v, %v; want 201", pr, err)
			}
			if pr.GetNumber() != 1 || pr.GetState() != "open" || pr.GetBody() != "why" || !strings.HasSuffix(pr.GetHTMLURL(), "/o/r/pull/1") ||
				pr.Head.GetRef() != "feature/x" || pr.Head.GetSHA() != headSHA || pr.Head.GetLabel() != "o:feature/x" ||
				pr.Base.GetRef() != "main" || pr.Base.GetSHA() != baseBefore || !pr.GetMergeable() || pr.GetMergeableState() != "clean" ||
				pr.GetUser().GetLogin() != "bot" {
				t.Errorf("created pull = %+v", pr)
			}

			_, _, err = c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("again"), Head: github.String("feature/x"), Base: github.String("main")})
			wantError(t, "Create(same head and base)", err, http.StatusUnprocessableEntity, "A pull request already exists for o:feature/x.")

			list, _, err := c.PullRequests.List(ctx, "o", "r", &github.PullRequestListOptions{Head: "o:feature/x", Base: "main"})
			if err != nil || len(list) != 1 || list[0].GetNumber() != 1 {
				t.Fatalf("List(head o:feature/x) = %v, %v; want #1", list, err)
			}

			res, _, err := c.PullRequests.Merge(ctx, "o", "r", 1, "", &github.PullRequestOptions{MergeMethod: tt.method, SHA: headSHA, CommitTitle: tt.title})
			if err != nil || !res.GetMerged() || res.GetMessage() != "Pull Request successfully merged" {
				t.Fatalf("Merge = %v, %v; want merged", res, err)
			}
			log := srv.Log("o/r", "main")
			top := log[0]
			if top.SHA != res.GetSHA() || len(top.Parents) != tt.wantParents || top.Parents[0] != baseBefore || top.Message != tt.wantMessage {
				t.Errorf("merge commit = %+v, want %d parents from %s, message %q", top, tt.wantParents, baseBefore, tt.wantMessage)
			}
			if tt.wantParents == 2 && top.Parents[1] != headSHA {
				t.Errorf("merge commit's second parent = %s, want the head %s", top.Parents[1], headSHA)
			}
			if top.Files["apps/a.yaml"] != "a: 2\n" || top.Files["apps/b.yaml"] != "b: 2\n" {
				t.Errorf("main after merge = %v, want the head's a and the base's b", top.Files)
			}

			got, _, err := c.PullRequests.Get(ctx, "o", "r", 1)
			if err != nil || !got.GetMerged() || got.GetState() != "closed" || got.GetMergeCommitSHA() != res.GetSHA() || got.Mergeable != nil {
				t.Errorf("Get after merge = %+v, %v; want merged, closed, mergeable null", got, err)
			}
			_, _, err = c.PullRequests.Merge(ctx, "o", "r", 1, "", nil)
			wantError(t, "Merge(again)", err, http.StatusMethodNotAllowed, "Pull Request is not mergeable")

			comment, resp, err := c.Issues.CreateComment(ctx, "o", "r", 1, &github.IssueComment{Body: github.String("deployed")})
			if err != nil || resp.StatusCode != http.StatusCreated || comment.GetBody() != "deployed" {
				t.Errorf("CreateComment = %v, %v; want 201", comment, err)
			}
			if got := srv.Comments("o/r", 1); len(got) != 1 || got[0] != "deployed" {
				t.Errorf("Comments = %q, want [deployed]", got)
			}
			want := PullRequest{Number: 1, Title: "deploy a", Body: "why", Head: "feature/x", Base: "main", State: "closed", Merged: true, MergeCommitSHA: res.GetSHA(), User: "bot"}
			if got := srv.Pulls("o/r"); len(got) != 1 || got[0] != want {
				t.Errorf("Pulls = %+v, want [%+v]", got, want)
			}
		})
	}
}

func TestPullRequestRules(t *testing.T) {
	ctx := context.Background()
	create := func(t *testing.T, c *github.Client) *github.PullRequest {
		t.Helper()
		pr, _, err := c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")})
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	tests := []struct {
		name string
		run  func(t *testing.T, srv *Server, c *github.Client)
	}{
		{"missing head", func(t *testing.T, srv *Server, c *github.Client) {
			_, _, err := c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("t"), Head: github.String("nope"), Base: github.String("main")})
			wantError(t, "Create", err, http.StatusUnprocessableEntity, "Validation Failed")
		}},
		{"missing base", func(t *testing.T, srv *Server, c *github.Client) {
			_, _, err := c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("nope")})
			wantError(t, "Create", err, http.StatusUnprocessableEntity, "Validation Failed")
		}},
		{"no commits", func(t *testing.T, srv *Server, c *github.Client) {
			main := srv.Log("o/r", "main")[0].SHA
			if _, _, err := c.Git.CreateRef(ctx, "o", "r", &github.Reference{Ref: github.String("refs/heads/old"), Object: &github.GitObject{SHA: &main}}); err != nil {
				t.Fatal(err)
			}
			srv.CommitFiles("o/r", "main", "later", map[string]string{"c": "1"})
			_, _, err := c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("t"), Head: github.String("main"), Base: github.String("old")})
			if err != nil {
				t.Errorf("Create(main into an older branch) = %v, want 201", err)
			}
			_, _, err = c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("t"), Head: github.String("old"), Base: github.String("main")})
			wantError(t, "Create(nothing to merge)", err, http.StatusUnprocessableEntity, "No commits between main and old")
		}},
		{"close", func(t *testing.T, srv *Server, c *github.Client) {
			pr := create(t, c)
			got, resp, err := c.PullRequests.Edit(ctx, "o", "r", pr.GetNumber(), &github.PullRequest{State: github.String("closed"), Title: github.String("t2")})
			if err != nil || resp.StatusCode != http.StatusOK || got.GetState() != "closed" || got.GetTitle() != "t2" || got.GetMerged() {
				t.Fatalf("Edit(closed) = %+v, %v; want 200 closed", got, err)
			}
			if open, _, _ := c.PullRequests.List(ctx, "o", "r", nil); len(open) != 0 {
				t.Errorf("open pulls after close = %d, want 0", len(open))
			}
			if closed, _, _ := c.PullRequests.List(ctx, "o", "r", &github.PullRequestListOptions{State: "closed"}); len(closed) != 1 {
				t.Errorf("closed pulls = %d, want 1", len(closed))
			}
			_, _, err = c.PullRequests.Merge(ctx, "o", "r", pr.GetNumber(), "", nil)
			wantError(t, "Merge(closed)", err, http.StatusMethodNotAllowed, "Pull Request is not mergeable")
			// A closed pull does not block a new one for the same branches.
			if again := create(t, c); again.GetNumber() != 2 {
				t.Errorf("new pull number = %d, want 2", again.GetNumber())
			}
		}},
		{"required checks", func(t *testing.T, srv *Server, c *github.Client) {
			srv.RequireChecks("o/r", "main")
			pr := create(t, c)
			if pr.GetMergeable() || pr.GetMergeableState() != "blocked" {
				t.Errorf("pull with pending checks: mergeable %v %q, want false blocked", pr.GetMergeable(), pr.GetMergeableState())
			}
			_, _, err := c.PullRequests.Merge(ctx, "o", "r", pr.GetNumber(), "", nil)
			wantError(t, "Merge(checks pending)", err, http.StatusMethodNotAllowed, "Pull Request is not mergeable")
			srv.PassChecks("o/r", pr.GetNumber())
			if got, _, _ := c.PullRequests.Get(ctx, "o", "r", pr.GetNumber()); !got.GetMergeable() || got.GetMergeableState() != "clean" {
				t.Errorf("after PassChecks: mergeable %v %q, want true clean", got.GetMergeable(), got.GetMergeableState())
			}
			if _, _, err := c.PullRequests.Merge(ctx, "o", "r", pr.GetNumber(), "", nil); err != nil {
				t.Errorf("Merge after PassChecks: %v", err)
			}
		}},
		{"stale sha", func(t *testing.T, srv *Server, c *github.Client) {
			pr := create(t, c)
			srv.CommitFiles("o/r", "feature", "someone else", map[string]string{"apps/c.yaml": "c: 1\n"})
			_, _, err := c.PullRequests.Merge(ctx, "o", "r", pr.GetNumber(), "", &github.PullRequestOptions{SHA: pr.Head.GetSHA()})
			wantError(t, "Merge(stale sha)", err, http.StatusConflict, "Head branch was modified. Review and try the merge again.")
			if f, _ := srv.File("o/r", "main", "apps/a.yaml"); string(f) != "a: 1\n" {
				t.Errorf("a refused merge changed main: %q", f)
			}
		}},
		{"protected base", func(t *testing.T, srv *Server, c *github.Client) {
			srv.Protect("o/r", "main")
			for branch, want := range map[string]bool{"main": true, "feature": false} {
				b, _, err := c.Repositories.GetBranch(ctx, "o", "r", branch, 0)
				if err != nil || b.GetProtected() != want {
					t.Errorf("GetBranch(%s).Protected = %v, %v; want %v", branch, b.GetProtected(), err, want)
				}
			}
			_, _, err := c.Repositories.UpdateFile(ctx, "o", "r", "apps/b.yaml", &github.RepositoryContentFileOptions{
				Message: github.String("direct"), Content: []byte("b: 9\n"), SHA: github.String(BlobSHA([]byte("b: 1\n"))), Branch: github.String("main"),
			})
			wantError(t, "UpdateFile(protected)", err, http.StatusConflict, "Could not update file: Changes must be made through a pull request.")
			pr := create(t, c)
			if _, _, err := c.PullRequests.Merge(ctx, "o", "r", pr.GetNumber(), "", nil); err != nil {
				t.Errorf("Merge into a protected branch: %v", err)
			}
			if f, _ := srv.File("o/r", "main", "apps/a.yaml"); string(f) != "a: 2\n" {
				t.Errorf("main after merge: a = %q, want the head's", f)
			}
		}},
		{"head deleted", func(t *testing.T, srv *Server, c *github.Client) {
			pr := create(t, c)
			resp, err := c.Git.DeleteRef(ctx, "o", "r", "heads/feature")
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DeleteRef = %v, want 204", err)
			}
			if got, _, _ := c.PullRequests.Get(ctx, "o", "r", pr.GetNumber()); got.GetState() != "closed" {
				t.Errorf("pull after its head was deleted: %s, want closed", got.GetState())
			}
			_, _, err = c.Git.GetRef(ctx, "o", "r", "heads/feature")
			wantError(t, "GetRef(deleted)", err, http.StatusNotFound, "Not Found")
			_, err = c.Git.DeleteRef(ctx, "o", "r", "heads/feature")
			wantError(t, "DeleteRef(again)", err, http.StatusUnprocessableEntity, "Reference does not exist")
		}},
		{"read-only token", func(t *testing.T, srv *Server, c *github.Client) {
			srv.AddToken("ro", Token{ReadOnly: true})
			ro := client(t, srv, "ro")
			_, _, err := ro.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")})
			wantError(t, "Create(read-only)", err, http.StatusForbidden, "not accessible")
			_, _, err = ro.Git.CreateRef(ctx, "o", "r", &github.Reference{Ref: github.String("refs/heads/x"), Object: &github.GitObject{SHA: github.String(srv.Log("o/r", "main")[0].SHA)}})
			wantError(t, "CreateRef(read-only)", err, http.StatusForbidden, "not accessible")
			if list, _, err := ro.PullRequests.List(ctx, "o", "r", nil); err != nil || len(list) != 0 {
				t.Errorf("List(read-only) = %v, %v; want []", list, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newPullServer(t)
			branchWithChange(t, c, "feature", "a: 2\n")
			tt.run(t, srv, c)
		})
	}
}

func TestListPulls(t *testing.T) {
	ctx := context.Background()
	_, c := newPullServer(t)
	for i, b := range []string{"one", "two", "three"} {
		branchWithChange(t, c, b, b+"\n")
		base := "main"
		if i == 2 {
			base = "one"
		}
		if _, _, err := c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String(b), Head: github.String(b), Base: github.String(base)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.PullRequests.Edit(ctx, "o", "r", 1, &github.PullRequest{State: github.String("closed")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts github.PullRequestListOptions
		want []int
	}{
		{"open by default, newest first", github.PullRequestListOptions{}, []int{3, 2}},
		{"all", github.PullRequestListOptions{State: "all"}, []int{3, 2, 1}},
		{"closed", github.PullRequestListOptions{State: "closed"}, []int{1}},
		{"by head", github.PullRequestListOptions{State: "all", Head: "o:two"}, []int{2}},
		{"by head of another owner", github.PullRequestListOptions{State: "all", Head: "fork:two"}, nil},
		// GitHub silently ignores a head without its owner.
		{"bare head is ignored", github.PullRequestListOptions{State: "all", Head: "two"}, []int{3, 2, 1}},
		{"by base", github.PullRequestListOptions{State: "all", Base: "one"}, []int{3}},
		{"oldest first", github.PullRequestListOptions{State: "all", Direction: "asc"}, []int{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, _, err := c.PullRequests.List(ctx, "o", "r", &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range list {
				got = append(got, p.GetNumber())
			}
			if !equalInts(got, tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.opts, got, tt.want)
			}
		})
	}

	// Pages follow the Link header.
	var got []int
	opts := &github.PullRequestListOptions{State: "all", ListOptions: github.ListOptions{PerPage: 2}}
	for pages := 0; ; pages++ {
		list, resp, err := c.PullRequests.List(ctx, "o", "r", opts)
		if err != nil || pages > 3 {
			t.Fatalf("List page %d: %v", opts.Page, err)
		}
		for _, p := range list {
			got = append(got, p.GetNumber())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if !equalInts(got, []int{3, 2, 1}) {
		t.Errorf("paginated list = %v, want [3 2 1]", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRefs(t *testing.T) {
	ctx := context.Background()
	srv, c := newPullServer(t)
	main := srv.Log("o/r", "main")[0].SHA
	srv.CommitFiles("o/r", "ahead", "ahead", map[string]string{"x": "1"})
	ahead := srv.Log("o/r", "ahead")[0].SHA

	ref, _, err := c.Git.GetRef(ctx, "o", "r", "heads/main")
	if err != nil || ref.GetRef() != "refs/heads/main" || ref.Object.GetSHA() != main || ref.Object.GetType() != "commit" {
		t.Errorf("GetRef(heads/main) = %+v, %v", ref, err)
	}
	tests := []struct {
		name   string
		call   func() error
		status int
		msg    string
	}{
		{"get missing", func() error { _, _, err := c.Git.GetRef(ctx, "o", "r", "heads/nope"); return err }, 404, "Not Found"},
		{"create existing", func() error {
			_, _, err := c.Git.CreateRef(ctx, "o", "r", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: &main}})
			return err
		}, 422, "Reference already exists"},
		{"create from unknown sha", func() error {
			_, _, err := c.Git.CreateRef(ctx, "o", "r", &github.Reference{Ref: github.String("heads/new"), Object: &github.GitObject{SHA: github.String(strings.Repeat("0", 40))}})
			return err
		}, 422, "Object does not exist"},
		{"update not fast forward", func() error {
			_, _, err := c.Git.UpdateRef(ctx, "o", "r", &github.Reference{Ref: github.String("refs/heads/ahead"), Object: &github.GitObject{SHA: &main}}, false)
			return err
		}, 422, "Update is not a fast forward"},
		{"update fast forward", func() error {
			_, _, err := c.Git.UpdateRef(ctx, "o", "r", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: &ahead}}, false)
			return err
		}, 0, ""},
		{"delete", func() error { _, err := c.Git.DeleteRef(ctx, "o", "r", "heads/ahead"); return err }, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.status == 0 {
				if err != nil {
					t.Errorf("error = %v, want none", err)
				}
				return
			}
			wantError(t, tt.name, err, tt.status, tt.msg)
		})
	}
	if got := srv.Log("o/r", "main")[0].SHA; got != ahead {
		t.Errorf("main after UpdateRef = %s, want %s", got, ahead)
	}
	if _, ok := srv.File("o/r", "ahead", "x"); ok {
		t.Error("branch ahead survived DeleteRef")
	}
}
