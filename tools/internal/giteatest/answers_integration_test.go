//go:build integration

package giteatest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestIntegrationRecordedAnswers asks a real Gitea what the stand-in's
// Gitea flavor claims it answers (RecordedAnswers, which the fast suite
// holds the stand-in to): a new Gitea version, or a change in how it is
// run, that answers otherwise fails here first.
func TestIntegrationRecordedAnswers(t *testing.T) {
	s := Start(t)
	start := time.Now()
	got := Answers(t, s.Host())
	t.Logf("asked in %s", time.Since(start).Round(time.Millisecond))
	want := strings.Split(strings.TrimSpace(RecordedAnswers), "\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Gitea %s answers otherwise than recorded in testdata/gitea-1.26.0.answers (-recorded +now):\n%s\nall of them now:\n%s", s.Version, diff, strings.Join(got, "\n"))
	}
}
