package giteatest

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// RecordedAnswers are the answers Gitea 1.26.0 gave to Answers' questions
// on this project's 2-core development machine: the source of truth for the
// Gitea flavor of tools/internal/githubtest. The integration suite asks the
// real server again and fails if one changed; the fast suite asks the
// stand-in and fails if it answers otherwise.
//
//go:embed testdata/gitea-1.26.0.answers
var RecordedAnswers string

// Host is a Gitea API for Answers to ask: the real server or a stand-in.
type Host struct {
	// URL is the API root, with its trailing slash.
	URL string
	// Bot is the token of platform-bot, an account with write access to
	// the repositories NewRepo makes; Admin the token of one that may
	// protect their branches and set commit statuses.
	Bot, Admin string
	// NewRepo makes a repository with manifests/a.yaml ("a: 1\n") and
	// manifests/b.yaml ("b: 1\n") on main, and returns its owner/name.
	NewRepo func(t testing.TB) string
	// Settle is how long an answer's consequences that the host carries
	// out on its own (a scheduled merge, deleting its branch, the test of a
	// pull request for conflicts) may take; Quiet how long to watch for
	// one that must not happen.
	Settle, Quiet time.Duration
}

// Answers asks host what the bump's requests depend on, in Gitea's API, and
// returns each answer on a line of its own: what was asked, the status,
// and the message (shas, ids and the host's address replaced by <sha>,
// <n> and <host>), or what the answer said that matters.
func Answers(t testing.TB, h Host) []string {
	t.Helper()
	a := &asker{t: t, h: h}
	a.version()
	a.writes()
	a.pullRequests()
	a.requiredCheck()
	a.cancel()
	a.approvalsAndBranches()
	return a.lines
}

type asker struct {
	t     testing.TB
	h     Host
	lines []string
}

// say records an answer.
func (a *asker) say(question string, format string, args ...any) {
	a.lines = append(a.lines, question+": "+fmt.Sprintf(format, args...))
}

// call sends a request and returns the status and the body.
func (a *asker) call(token, method, path string, body any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.h.URL+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// answer is a call's status and message, normalized.
func (a *asker) answer(token, method, path string, body any) string {
	a.t.Helper()
	status, out := a.call(token, method, path, body)
	if msg := a.message(out); msg != "" {
		return fmt.Sprintf("%d %s", status, msg)
	}
	return fmt.Sprint(status)
}

var (
	shaPattern = regexp.MustCompile(`\b[0-9a-f]{40}\b`)
	idPattern  = regexp.MustCompile(`\b(id|pull_id|issue_id|head_repo_id|base_repo_id): \d+`)
	hostURL    = regexp.MustCompile(`https?://127\.0\.0\.1:\d+`)
)

// message is what an answer's body says, normalized: its message and
// errors, or "(no body)".
func (a *asker) message(body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "(no body)"
	}
	var m struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "(not an error: " + err.Error() + ")"
	}
	s := m.Message
	if len(m.Errors) > 0 {
		s += " " + fmt.Sprint(m.Errors)
	}
	s = shaPattern.ReplaceAllString(s, "<sha>")
	s = idPattern.ReplaceAllString(s, "$1: <n>")
	return hostURL.ReplaceAllString(s, "<host>")
}

func (a *asker) decode(body []byte, v any) {
	a.t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		a.t.Fatalf("decode %.200q: %v", body, err)
	}
}

func (a *asker) version() {
	status, out := a.call("", "GET", "version", nil)
	var v struct{ Version string }
	a.decode(out, &v)
	a.say("GET /version without a token", "%d %s", status, v.Version)
}

// blob is the blob sha of a manifest on branch.
func (a *asker) blob(repo, branch, file string) string {
	a.t.Helper()
	status, out := a.call(a.h.Bot, "GET", "repos/"+repo+"/contents/manifests/"+file+"?ref="+branch, nil)
	var f struct{ SHA string }
	a.decode(out, &f)
	if status != http.StatusOK || f.SHA == "" {
		a.t.Fatalf("GET %s@%s:%s = %d %s", repo, branch, file, status, out)
	}
	return f.SHA
}

func (a *asker) put(repo, branch, file, blob, content string) (int, []byte) {
	return a.call(a.h.Bot, "PUT", "repos/"+repo+"/contents/manifests/"+file, map[string]string{
		"branch": branch, "sha": blob, "message": "edit " + file, "content": base64.StdEncoding.EncodeToString([]byte(content)),
	})
}

func (a *asker) commits(repo, branch string) int {
	a.t.Helper()
	_, out := a.call(a.h.Bot, "GET", "repos/"+repo+"/commits?sha="+branch+"&limit=50&stat=false&files=false", nil)
	var list []any
	a.decode(out, &list)
	return len(list)
}

// writes asks about Contents API writes: a stale sha, a race, and a write
// that changes nothing.
func (a *asker) writes() {
	repo := a.h.NewRepo(a.t)
	status, out := a.put(repo, "main", "a.yaml", strings.Repeat("0", 40), "a: 0\n")
	a.say("PUT contents with a stale blob sha", "%d %s", status, a.message(out))

	// Five writes from one sha at once: one wins, the others lose the
	// race for the branch ref.
	blob := a.blob(repo, "main", "a.yaml")
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			status, out := a.put(repo, "main", "a.yaml", blob, fmt.Sprintf("a: %d\n", i+2))
			answer := fmt.Sprint(status)
			if status != http.StatusOK {
				answer += " " + a.message(out)
			}
			mu.Lock()
			counts[answer]++
			mu.Unlock()
		})
	}
	wg.Wait()
	var parts []string
	for answer, n := range counts {
		parts = append(parts, fmt.Sprintf("%d × %s", n, answer))
	}
	sort.Strings(parts)
	a.say("five PUT contents from one blob sha at once", "%s", strings.Join(parts, "; "))

	before := a.commits(repo, "main")
	_, content := a.call(a.h.Bot, "GET", "repos/"+repo+"/raw/manifests/a.yaml?ref=main", nil)
	status, _ = a.put(repo, "main", "a.yaml", a.blob(repo, "main", "a.yaml"), string(content))
	a.say("PUT contents that change nothing", "%d, commits on main: %+d", status, a.commits(repo, "main")-before)
}

// pull is the part of a pull request the answers look at.
type pull struct {
	Number    int                  `json:"number"`
	State     string               `json:"state"`
	Merged    bool                 `json:"merged"`
	Mergeable bool                 `json:"mergeable"`
	MState    *string              `json:"mergeable_state"`
	Head      struct{ SHA string } `json:"head"`
}

func (a *asker) pull(repo string, n int) pull {
	a.t.Helper()
	_, out := a.call(a.h.Bot, "GET", fmt.Sprintf("repos/%s/pulls/%d", repo, n), nil)
	var p pull
	a.decode(out, &p)
	return p
}

// open makes branch from main with a change to file and opens its pull
// request, and waits until the host has tested it.
func (a *asker) open(repo, branch, file string) pull {
	a.t.Helper()
	if status, out := a.call(a.h.Bot, "POST", "repos/"+repo+"/branches", map[string]string{"new_branch_name": branch, "old_branch_name": "main"}); status != http.StatusCreated {
		a.t.Fatalf("create branch %s: %d %s", branch, status, out)
	}
	if status, out := a.put(repo, branch, file, a.blob(repo, branch, file), "changed on "+branch+"\n"); status != http.StatusOK {
		a.t.Fatalf("write on %s: %d %s", branch, status, out)
	}
	status, out := a.call(a.h.Bot, "POST", "repos/"+repo+"/pulls", map[string]string{"head": branch, "base": "main", "title": "deploy " + branch})
	if status != http.StatusCreated {
		a.t.Fatalf("open a pull request from %s: %d %s", branch, status, out)
	}
	var p pull
	a.decode(out, &p)
	return a.tested(repo, p.Number)
}

// tested waits until the host finds the pull request mergeable.
func (a *asker) tested(repo string, n int) pull {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := a.pull(repo, n)
		if p.Mergeable || time.Now().After(deadline) {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// merged waits at most wait for the pull request to merge.
func (a *asker) merged(repo string, n int, wait time.Duration) pull {
	deadline := time.Now().Add(wait)
	for {
		p := a.pull(repo, n)
		if p.Merged || time.Now().After(deadline) {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// branchGone waits at most Settle for branch to be deleted, and reports
// whether it was.
func (a *asker) branchGone(repo, branch string) bool {
	deadline := time.Now().Add(a.h.Settle)
	for {
		status, _ := a.call(a.h.Bot, "GET", "repos/"+repo+"/branches/"+strings.ReplaceAll(branch, "/", "%2F"), nil)
		if status == http.StatusNotFound || time.Now().After(deadline) {
			return status == http.StatusNotFound
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mergeTested asks for a merge until the host has tested the pull request
// (after it opened, or again after a failed merge), at most Settle, and
// returns the last answer: Gitea answers 405 Please try again later while
// it tests, even when it already lists the pull request mergeable, and the
// bump retries that answer. Every merge the answers record goes through
// it, so that a busy machine records what a merge is answered, not when.
func (a *asker) mergeTested(repo string, n int, body map[string]any) string {
	deadline := time.Now().Add(a.h.Settle)
	for {
		answer := a.merge(repo, n, body)
		if answer != "405 Please try again later" || time.Now().After(deadline) {
			return answer
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *asker) merge(repo string, n int, body map[string]any) string {
	return a.answer(a.h.Bot, "POST", fmt.Sprintf("repos/%s/pulls/%d/merge", repo, n), body)
}

// pullRequests asks about branches, opening pull requests, and merges on
// a branch nothing protects.
func (a *asker) pullRequests() {
	repo := a.h.NewRepo(a.t)
	a.say("POST git/refs (GitHub's way to create a branch)", "%s", a.answer(a.h.Bot, "POST", "repos/"+repo+"/git/refs", map[string]string{"ref": "refs/heads/x", "sha": a.blob(repo, "main", "a.yaml")}))
	a.say("POST branches", "%s", a.answer(a.h.Bot, "POST", "repos/"+repo+"/branches", map[string]string{"new_branch_name": "bump/one", "old_branch_name": "main"}))
	a.say("POST branches for a branch that exists", "%s", a.answer(a.h.Bot, "POST", "repos/"+repo+"/branches", map[string]string{"new_branch_name": "bump/one", "old_branch_name": "main"}))
	a.put(repo, "bump/one", "a.yaml", a.blob(repo, "bump/one", "a.yaml"), "a: one\n")
	status, out := a.call(a.h.Bot, "POST", "repos/"+repo+"/pulls", map[string]string{"head": "bump/one", "base": "main", "title": "deploy one"})
	var created pull
	a.decode(out, &created)
	a.say("POST pulls", "%d, mergeable %v, mergeable_state present %v", status, created.Mergeable, created.MState != nil)
	a.say("POST pulls for the same head and base", "%s", a.answer(a.h.Bot, "POST", "repos/"+repo+"/pulls", map[string]string{"head": "bump/one", "base": "main", "title": "deploy one"}))
	_, out = a.call(a.h.Bot, "GET", "repos/"+repo+"/pulls?state=open&head="+strings.Split(repo, "/")[0]+":no-such-branch", nil)
	var list []pull
	a.decode(out, &list)
	a.say("GET pulls with a head filter that matches none", "%d listed", len(list))
	p := a.tested(repo, created.Number)
	a.say("GET the pull request once tested", "mergeable %v, mergeable_state present %v", p.Mergeable, p.MState != nil)
	a.say("PUT pulls/{n}/merge (GitHub's merge)", "%s", a.answer(a.h.Bot, "PUT", fmt.Sprintf("repos/%s/pulls/%d/merge", repo, p.Number), map[string]string{"merge_method": "squash"}))
	a.say("DELETE pulls/{n}/merge with nothing scheduled", "%s", a.answer(a.h.Bot, "DELETE", fmt.Sprintf("repos/%s/pulls/%d/merge", repo, p.Number), nil))
	a.say("POST pulls/{n}/merge, no protection", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash", "head_commit_id": p.Head.SHA, "delete_branch_after_merge": true}))
	p = a.pull(repo, p.Number)
	a.say("the pull request after the merge", "merged %v, state %s, head branch deleted %v", p.Merged, p.State, a.branchGone(repo, "bump/one"))
	a.say("POST pulls/{n}/merge of a merged pull request", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash"}))

	// A merge scheduled for when the checks succeed, with no check
	// required: the host merges it on its own.
	q := a.open(repo, "bump/two", "b.yaml")
	a.say("POST pulls/{n}/merge with merge_when_checks_succeed, no check required", "%s", a.mergeTested(repo, q.Number, map[string]any{"Do": "squash", "merge_when_checks_succeed": true, "delete_branch_after_merge": true}))
	q = a.merged(repo, q.Number, a.h.Settle)
	a.say("that pull request a moment later", "merged %v, head branch deleted %v", q.Merged, a.branchGone(repo, "bump/two"))
}

// requiredCheck asks about a branch protected against pushes, with a
// required status check.
func (a *asker) requiredCheck() {
	repo := a.h.NewRepo(a.t)
	a.say("POST branch_protections (push disabled, check ci/test required)", "%s", strings.SplitN(a.answer(a.h.Admin, "POST", "repos/"+repo+"/branch_protections", map[string]any{
		"rule_name": "main", "enable_push": false, "enable_status_check": true, "status_check_contexts": []string{"ci/test"},
	}), " ", 2)[0])
	status, out := a.put(repo, "main", "a.yaml", a.blob(repo, "main", "a.yaml"), "a: direct\n")
	a.say("PUT contents to the protected branch", "%d %s", status, a.message(out))
	_, out = a.call(a.h.Bot, "GET", "repos/"+repo+"/branches/main", nil)
	var b struct {
		Protected   bool `json:"protected"`
		UserCanPush bool `json:"user_can_push"`
	}
	a.decode(out, &b)
	a.say("GET the protected branch", "protected %v, user_can_push %v", b.Protected, b.UserCanPush)

	p := a.open(repo, "bump/three", "a.yaml")
	a.say("POST pulls/{n}/merge, check pending", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash", "head_commit_id": p.Head.SHA}))
	a.say("POST pulls/{n}/merge with merge_when_checks_succeed, check pending", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash", "merge_when_checks_succeed": true, "delete_branch_after_merge": true}))
	a.say("the same again", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash", "merge_when_checks_succeed": true}))
	a.status(repo, p.Head.SHA, "pending")
	a.say("after a pending status, a moment later", "merged %v", a.merged(repo, p.Number, a.h.Quiet).Merged)
	a.status(repo, p.Head.SHA, "success")
	a.say("after a success status", "merged %v, head branch deleted %v", a.merged(repo, p.Number, a.h.Settle).Merged, a.branchGone(repo, "bump/three"))
}

func (a *asker) status(repo, sha, state string) {
	a.t.Helper()
	if status, out := a.call(a.h.Admin, "POST", "repos/"+repo+"/statuses/"+sha, map[string]string{"context": "ci/test", "state": state}); status != http.StatusCreated {
		a.t.Fatalf("set status %s on %s: %d %s", state, sha, status, out)
	}
}

// cancel asks about cancelling a scheduled merge.
func (a *asker) cancel() {
	repo := a.h.NewRepo(a.t)
	a.call(a.h.Admin, "POST", "repos/"+repo+"/branch_protections", map[string]any{
		"rule_name": "main", "enable_push": false, "enable_status_check": true, "status_check_contexts": []string{"ci/test"},
	})
	p := a.open(repo, "bump/four", "a.yaml")
	a.say("schedule a merge, check pending", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash", "merge_when_checks_succeed": true}))
	a.say("DELETE pulls/{n}/merge (cancel it)", "%s", a.answer(a.h.Bot, "DELETE", fmt.Sprintf("repos/%s/pulls/%d/merge", repo, p.Number), nil))
	a.say("DELETE pulls/{n}/merge again", "%s", a.answer(a.h.Bot, "DELETE", fmt.Sprintf("repos/%s/pulls/%d/merge", repo, p.Number), nil))
	a.status(repo, p.Head.SHA, "success")
	a.say("after a success status, a moment later", "merged %v", a.merged(repo, p.Number, a.h.Quiet).Merged)
	a.say("POST pulls/{n}/merge with a stale head_commit_id, check passed", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash", "head_commit_id": a.blob(repo, "main", "a.yaml")}))
	a.say("POST pulls/{n}/merge, check passed, once tested again", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash", "head_commit_id": p.Head.SHA}))
}

// approvalsAndBranches asks about required reviews, closing, and deleting
// branches.
func (a *asker) approvalsAndBranches() {
	repo := a.h.NewRepo(a.t)
	a.call(a.h.Admin, "POST", "repos/"+repo+"/branch_protections", map[string]any{"rule_name": "main", "enable_push": false, "required_approvals": 1})
	p := a.open(repo, "bump/five", "a.yaml")
	a.say("POST pulls/{n}/merge, an approval required", "%s", a.mergeTested(repo, p.Number, map[string]any{"Do": "squash"}))
	status, out := a.call(a.h.Bot, "PATCH", fmt.Sprintf("repos/%s/pulls/%d", repo, p.Number), map[string]string{"state": "closed"})
	var closed pull
	a.decode(out, &closed)
	a.say("PATCH pulls/{n} state closed", "%d, state %s", status, closed.State)
	a.say("DELETE branches/{b}", "%s", a.answer(a.h.Bot, "DELETE", "repos/"+repo+"/branches/bump%2Ffive", nil))
	a.say("DELETE branches/{b} again", "%s", a.answer(a.h.Bot, "DELETE", "repos/"+repo+"/branches/bump%2Ffive", nil))
	a.say("DELETE branches/main", "%s", a.answer(a.h.Bot, "DELETE", "repos/"+repo+"/branches/main", nil))
	a.say("GET commits of a path no commit touched", "%s", a.answer(a.h.Bot, "GET", "repos/"+repo+"/commits?sha=main&path=none.yaml", nil))
}
