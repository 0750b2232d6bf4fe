package githubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
)

// call sends a request to p (relative to the API root) with this
// Authorization header and a JSON body, for endpoints go-github lacks.
func call(t *testing.T, srv *Server, method, p, auth string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.URL+p, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

func newGitea(t *testing.T) (*Server, *github.Client) {
	t.Helper()
	srv := New(WithGitea(), WithBasePath("/api/v1/"))
	t.Cleanup(srv.Close)
	srv.AddToken(token, Token{Login: "gitea-bot"})
	srv.CreateRepo("o/r", "main", map[string]string{"apps/a.yaml": "a: 1\n"})
	return srv, client(t, srv, token)
}

// TestFlavorEndpoints checks the endpoints that exist in one flavor only.
func TestFlavorEndpoints(t *testing.T) {
	tests := []struct {
		method, path string
		body         any
		github       int
		gitea        int
	}{
		{"GET", "version", nil, 404, 200},
		{"POST", "repos/o/r/branches", map[string]string{"new_branch_name": "b"}, 404, 201},
		{"DELETE", "repos/o/r/branches/side", nil, 404, 204},
		{"POST", "repos/o/r/git/refs", map[string]string{"ref": "refs/heads/c", "sha": "main"}, 422, 405},
		{"DELETE", "repos/o/r/git/refs/heads/side", nil, 204, 405},
		{"GET", "repos/o/r/git/ref/heads/main", nil, 200, 404},
		{"PUT", "repos/o/r/pulls/1/merge", map[string]string{}, 200, 405},
		{"POST", "repos/o/r/pulls/1/merge", map[string]string{}, 404, 200},
	}
	for _, flavor := range []string{"github", "gitea"} {
		t.Run(flavor, func(t *testing.T) {
			for _, tt := range tests {
				srv := New()
				want := tt.github
				if flavor == "gitea" {
					srv = New(WithGitea(), WithBasePath("/api/v1/"), WithPullCheck(0))
					want = tt.gitea
				}
				srv.AddToken(token, Token{})
				srv.CreateRepo("o/r", "main", map[string]string{"a": "1"})
				srv.CommitFiles("o/r", "side", "side", map[string]string{"a": "2"})
				c := client(t, srv, token)
				if _, _, err := c.PullRequests.Create(context.Background(), "o", "r", &github.NewPullRequest{Title: github.String("t"), Head: github.String("side"), Base: github.String("main")}); err != nil {
					t.Fatal(err)
				}
				if got, body := call(t, srv, tt.method, tt.path, "token "+token, tt.body); got != want {
					t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, got, body, want)
				}
				srv.Close()
			}
		})
	}
	srv, _ := newGitea(t)
	if code, body := call(t, srv, "GET", "version", "", nil); code != 200 || !strings.Contains(body, `"version":"1.26.0"`) {
		t.Errorf("GET /api/v1/version without a token = %d %s, want 200 1.26.0", code, body)
	}
}

func TestGiteaFlow(t *testing.T) {
	ctx := context.Background()
	srv, c := newGitea(t)

	// Branches come from POST branches; go-github's CreateRef does not work.
	if code, body := call(t, srv, "POST", "repos/o/r/branches", "token "+token, map[string]string{"new_branch_name": "feature/x", "old_branch_name": "main"}); code != 201 || !strings.Contains(body, `"name":"feature/x"`) {
		t.Fatalf("POST branches = %d %s, want 201", code, body)
	}
	for _, tt := range []struct {
		body map[string]string
		want int
	}{
		{map[string]string{"new_branch_name": "feature/x", "old_branch_name": "main"}, 409},
		{map[string]string{"new_branch_name": "y", "old_branch_name": "nope"}, 404},
		{map[string]string{"new_branch_name": "z", "old_ref_name": srv.Log("o/r", "main")[0].SHA}, 201},
	} {
		if code, body := call(t, srv, "POST", "repos/o/r/branches", "token "+token, tt.body); code != tt.want {
			t.Errorf("POST branches %v = %d %s, want %d", tt.body, code, body, tt.want)
		}
	}
	_, _, err := c.Git.CreateRef(ctx, "o", "r", &github.Reference{Ref: github.String("refs/heads/w"), Object: &github.GitObject{SHA: github.String(srv.Log("o/r", "main")[0].SHA)}})
	wantError(t, "CreateRef on Gitea", err, http.StatusMethodNotAllowed, "")

	file, _, _, err := c.Repositories.GetContents(ctx, "o", "r", "apps/a.yaml", &github.RepositoryContentGetOptions{Ref: "feature/x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Repositories.UpdateFile(ctx, "o", "r", "apps/a.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("bump"), Content: []byte("a: 2\n"), SHA: file.SHA, Branch: github.String("feature/x"),
	}); err != nil {
		t.Fatal(err)
	}
	pr, resp, err := c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("deploy"), Head: github.String("feature/x"), Base: github.String("main")})
	if err != nil || resp.StatusCode != 201 || pr.GetNumber() != 1 || !pr.GetMergeable() {
		t.Fatalf("Create = %+v, %v; want 201 #1 mergeable", pr, err)
	}
	_, _, err = c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("again"), Head: github.String("feature/x"), Base: github.String("main")})
	wantError(t, "Create(same head and base)", err, http.StatusConflict, "pull request already exists")
	// Gitea has no head filter: the client must match head.ref itself.
	if list, _, err := c.PullRequests.List(ctx, "o", "r", &github.PullRequestListOptions{Head: "o:nothing"}); err != nil || len(list) != 1 {
		t.Errorf("List(head o:nothing) = %d pulls, %v; want the filter ignored", len(list), err)
	}
	_, _, err = c.PullRequests.Merge(ctx, "o", "r", 1, "", nil)
	wantError(t, "PUT merge on Gitea", err, http.StatusMethodNotAllowed, "")

	// While Gitea tests a new pull request for conflicts it is not
	// mergeable, and a merge, now or scheduled, is to be tried again.
	if got, _, err := c.PullRequests.Get(ctx, "o", "r", 1); err != nil || got.GetMergeable() || got.MergeableState != nil {
		t.Errorf("Get(a pull request being tested) = mergeable %v, mergeable_state %v, %v; want false and none", got.GetMergeable(), got.MergeableState, err)
	}
	for _, body := range []map[string]any{{"Do": "merge"}, {"Do": "merge", "merge_when_checks_succeed": true}} {
		if code, body := call(t, srv, "POST", "repos/o/r/pulls/1/merge", "token "+token, body); code != 405 || !strings.Contains(body, "Please try again later") {
			t.Errorf("merge while the pull request is tested = %d %s, want 405", code, body)
		}
	}
	waitMergeable(t, c, 1)

	// Required checks: merging now is refused, a scheduled merge waits
	// for them and happens a moment after they pass.
	srv.RequireChecks("o/r", "main")
	if code, body := call(t, srv, "POST", "repos/o/r/pulls/1/merge", "token "+token, map[string]any{"Do": "merge"}); code != 405 || !strings.Contains(body, "Not all required status checks successful") {
		t.Errorf("merge with pending checks = %d %s, want 405", code, body)
	}
	if code, body := call(t, srv, "POST", "repos/o/r/pulls/1/merge", "token "+token, map[string]any{"Do": "merge", "merge_when_checks_succeed": true, "delete_branch_after_merge": true}); code != 201 || body != "" {
		t.Errorf("scheduled merge = %d %q, want 201 and no body", code, body)
	}
	if p := srv.Pulls("o/r")[0]; p.Merged || p.State != "open" || !p.AutoMerge {
		t.Errorf("pull after scheduling = %+v, want still open, its merge scheduled", p)
	}
	srv.PassChecks("o/r", 1)
	if p := waitMerged(t, srv, "o/r", 1); !p.Merged || p.State != "closed" || p.AutoMerge {
		t.Errorf("pull after PassChecks = %+v, want merged", p)
	}
	log := srv.Log("o/r", "main")
	if log[0].Message != "Merge pull request 'deploy' (#1) from feature/x into main" || len(log[0].Parents) != 2 || log[0].Files["apps/a.yaml"] != "a: 2\n" {
		t.Errorf("main after the scheduled merge = %+v", log[0])
	}
	if _, ok := srv.File("o/r", "feature/x", "apps/a.yaml"); ok {
		t.Error("delete_branch_after_merge left the head branch")
	}

	// A squash merge now, once checks passed.
	srv.CommitFiles("o/r", "z", "change b", map[string]string{"apps/b.yaml": "b: 1\n"})
	pr, _, err = c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("add b"), Head: github.String("z"), Base: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	srv.PassChecks("o/r", pr.GetNumber())
	waitMergeable(t, c, pr.GetNumber())
	if code, body := call(t, srv, "POST", "repos/o/r/pulls/2/merge", "token "+token, map[string]any{"Do": "squash", "head_commit_id": pr.Head.GetSHA()}); code != 200 || body != "" {
		t.Errorf("squash merge = %d %q, want 200 and no body", code, body)
	}
	if log := srv.Log("o/r", "main"); log[0].Message != "add b (#2)" || len(log[0].Parents) != 1 || log[0].Files["apps/b.yaml"] != "b: 1\n" || log[0].Files["apps/a.yaml"] != "a: 2\n" {
		t.Errorf("main after squash = %+v", log[0])
	}

	// Closing answers 201.
	srv.CommitFiles("o/r", "w", "w", map[string]string{"w": "1"})
	pr, _, err = c.PullRequests.Create(ctx, "o", "r", &github.NewPullRequest{Title: github.String("w"), Head: github.String("w"), Base: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	got, resp, err := c.PullRequests.Edit(ctx, "o", "r", pr.GetNumber(), &github.PullRequest{State: github.String("closed")})
	if err != nil || resp.StatusCode != 201 || got.GetState() != "closed" {
		t.Errorf("close = %v, %v; want 201 closed", got, err)
	}

	// A protected branch refuses Contents API writes with 403 and deletion.
	srv.Protect("o/r", "main")
	_, _, err = c.Repositories.UpdateFile(ctx, "o", "r", "apps/a.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("direct"), Content: []byte("a: 9\n"), SHA: github.String(BlobSHA([]byte("a: 2\n"))), Branch: github.String("main"),
	})
	wantError(t, "UpdateFile(protected) on Gitea", err, http.StatusForbidden, "user cannot commit to repo [user: gitea-bot]")
	if code, _ := call(t, srv, "DELETE", "repos/o/r/branches/main", "token "+token, nil); code != 403 {
		t.Errorf("DELETE a protected branch = %d, want 403", code)
	}
	if code, _ := call(t, srv, "DELETE", "repos/o/r/branches/w", "token "+token, nil); code != 204 {
		t.Errorf("DELETE branch w = %d, want 204", code)
	}
	if code, _ := call(t, srv, "DELETE", "repos/o/r/branches/w", "token "+token, nil); code != 404 {
		t.Errorf("DELETE a missing branch = %d, want 404", code)
	}
	// Gitea's branch names the commit's sha "id".
	if code, body := call(t, srv, "GET", "repos/o/r/branches/main", "token "+token, nil); code != 200 || !strings.Contains(body, `"protected":true`) || !strings.Contains(body, `"id":"`+srv.Log("o/r", "main")[0].SHA) {
		t.Errorf("GET branches/main = %d %s", code, body)
	}
}

func TestGiteaCommitsByPath(t *testing.T) {
	srv, c := newGitea(t)
	for i := 0; i < 3; i++ {
		srv.CommitFiles("o/r", "main", "edit", map[string]string{"apps/a.yaml": strings.Repeat("a", i+2)})
	}
	list, resp, err := c.Repositories.ListCommits(context.Background(), "o", "r", &github.CommitsListOptions{SHA: "main", Path: "apps/a.yaml"})
	if err != nil || len(list) != 4 || resp.Header.Get("X-Total-Count") != "4" {
		t.Errorf("ListCommits = %d commits, %v; want 4 with X-Total-Count", len(list), err)
	}
	if code, _ := call(t, srv, "GET", "repos/o/r/commits?sha=main&path=apps/a.yaml&limit=2", "token "+token, nil); code != 200 {
		t.Errorf("commits with limit = %d", code)
	}
	var page []map[string]any
	_, body := call(t, srv, "GET", "repos/o/r/commits?sha=main&path=apps/a.yaml&limit=3", "token "+token, nil)
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page) != 3 {
		t.Errorf("commits with limit=3 = %d, %v; want 3", len(page), err)
	}
	_, _, err = c.Repositories.ListCommits(context.Background(), "o", "r", &github.CommitsListOptions{SHA: "main", Path: "apps/none.yaml"})
	wantError(t, "ListCommits(untouched path) on Gitea", err, http.StatusNotFound, "")
}

// waitMergeable waits until Gitea has tested pull request n.
func waitMergeable(t *testing.T, c *github.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pr, _, err := c.PullRequests.Get(context.Background(), "o", "r", n)
		if err != nil {
			t.Fatal(err)
		}
		if pr.GetMergeable() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pull request #%d is still not mergeable", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitMerged waits a moment for a scheduled merge of pull request n.
func waitMerged(t *testing.T, srv *Server, repo string, n int) PullRequest {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := srv.Pulls(repo)[n-1]
		if p.Merged || time.Now().After(deadline) {
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
}
