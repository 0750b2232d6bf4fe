package githubtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/andrelair-platform/platform-demo/tools/internal/giteatest"
)

// TestGiteaAnswersAsRecorded holds the Gitea flavor to what a real Gitea
// 1.26.0 answered to the same questions (giteatest.RecordedAnswers), so
// that the fast suite stays faithful between runs of the integration
// suite, which asks the real server again.
func TestGiteaAnswersAsRecorded(t *testing.T) {
	// A wide race window: the five writes sent at once must all pass the
	// sha check before the first moves the ref, as on the real server,
	// whose writes took 300 ms, even on a machine busy with other tests.
	srv := New(WithGitea(), WithBasePath("/api/v1/"), WithRefLockWindow(150*time.Millisecond))
	t.Cleanup(srv.Close)
	const bot, admin = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	srv.AddToken(bot, Token{Login: "platform-bot"})
	srv.AddToken(admin, Token{Login: "gitea-admin"})
	n := 0
	got := giteatest.Answers(t, giteatest.Host{
		URL: srv.URL, Bot: bot, Admin: admin, Settle: 5 * time.Second, Quiet: 100 * time.Millisecond,
		NewRepo: func(testing.TB) string {
			n++
			repo := fmt.Sprintf("andrelair-platform/answers-%d", n)
			srv.CreateRepo(repo, "main", map[string]string{"manifests/a.yaml": "a: 1\n", "manifests/b.yaml": "b: 1\n"})
			return repo
		},
	})
	want := strings.Split(strings.TrimSpace(giteatest.RecordedAnswers), "\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the Gitea flavor answers otherwise than Gitea 1.26.0 did (-Gitea +stand-in):\n%s", diff)
	}
}
