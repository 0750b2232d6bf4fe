package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/andrelair-platform/platform-demo/tools/argocd"
)

func TestVerdict(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	base := TargetStatus{URL: "http://svc", SourceCommit: a, GitopsTime: now.Add(-time.Hour), ImageFound: true}
	with := func(f func(*TargetStatus)) TargetStatus { st := base; f(&st); return st }
	tests := []struct {
		name    string
		st      TargetStatus
		verdict string
		why     string
	}{
		{"live is what git deploys", with(func(s *TargetStatus) { s.Live = a }), InSync, "answers"},
		{"in sync, but the registry lost the image", with(func(s *TargetStatus) {
			s.Live = a
			s.ImageFound = false
			s.ImageError = "image x is not in its registry"
		}), InSync, "not in its registry"},
		{"another commit, bumped a minute ago", with(func(s *TargetStatus) { s.Live = b; s.GitopsTime = now.Add(-time.Minute) }), Deploying, "less than VERIFY_TIMEOUT"},
		{"another commit, bumped an hour ago", with(func(s *TargetStatus) { s.Live = b }), Drifted, "git has deployed aaaaaaa"},
		{"another commit, Argo CD syncing", with(func(s *TargetStatus) {
			s.Live = b
			s.Argo = &argocd.AppStatus{Sync: "OutOfSync", Health: "Progressing"}
		}), Deploying, "Argo CD is at work"},
		{"another commit, Argo CD synced long ago", with(func(s *TargetStatus) {
			s.Live = b
			s.GitopsTime = now.Add(-time.Minute)
			s.Argo = &argocd.AppStatus{Sync: "Synced", Health: "Healthy"}
		}), Drifted, "git has deployed"},
		{"another commit, and git's image is gone", with(func(s *TargetStatus) {
			s.Live = b
			s.ImageFound, s.ImageMissing, s.ImageError = false, true, "image x is not in its registry"
		}), Drifted, "not in its registry"},
		{"another commit, bumped a minute ago, registry login refused", with(func(s *TargetStatus) {
			s.Live = b
			s.GitopsTime = now.Add(-time.Minute)
			s.ImageFound, s.ImageError = false, "check image x in ghcr.io: registry answered 401 Unauthorized"
		}), Deploying, "less than VERIFY_TIMEOUT"},
		{"the service does not answer", with(func(s *TargetStatus) { s.LiveError = "connection refused" }), Unreachable, "connection refused"},
		{"the gitops repository does not answer", with(func(s *TargetStatus) { s.GitopsError = "401" }), Unreachable, "gitops: 401"},
		{"no address to ask", with(func(s *TargetStatus) { s.URL = "" }), Unknown, "no address"},
		{"a manifest without a source commit", with(func(s *TargetStatus) { s.Live = a; s.SourceCommit = "" }), Unknown, "no source commit"},
		{"a manifest that cannot be read", with(func(s *TargetStatus) {
			s.Live, s.SourceCommit, s.ManifestError = a, "", "staging's manifest m.yaml cannot be read at gitops ccccccc: not YAML: line 3: x"
		}), Unreadable, "not YAML: line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verdict, why := verdict(tt.st, 10*time.Minute, now)
			if verdict != tt.verdict || !strings.Contains(why, tt.why) {
				t.Errorf("verdict() = %q (%s), want %q (…%s…)", verdict, why, tt.verdict, tt.why)
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	st := Status{Targets: []TargetStatus{{
		Service: "platform-demo", Environment: "staging", Path: "m.yaml", Branch: "main", Image: "r/p:1@sha256:00", SourceCommit: strings.Repeat("a", 40),
		GitopsCommit: strings.Repeat("c", 40), GitopsTime: now.Add(-3 * time.Minute), ImageFound: true,
		URL: "http://svc", Live: strings.Repeat("a", 40), LiveSince: now.Add(-2 * time.Hour),
		Argo: &argocd.AppStatus{Sync: "Synced", Health: "Healthy", Revision: strings.Repeat("c", 40)}, Verdict: InSync, Why: "the manifest's commit answers",
	}}}
	passed := &Verdict{Result: VerdictPassed, Image: "r/p:1@sha256:00", Commit: strings.Repeat("a", 40), At: now.Add(-time.Hour)}
	st.Targets[0].Soak, st.Targets[0].LastSoak = passed, passed
	drifted := st.Targets[0]
	drifted.Service, drifted.Verdict, drifted.Why = "hello", Drifted, "bbbbbbb answers, but git has deployed aaaaaaa since …"
	drifted.Live = strings.Repeat("b", 40)
	// A version that failed its soak and was rolled back.
	drifted.LastSoak = &Verdict{Result: VerdictFailed, Image: "r/p:2@sha256:11", Commit: strings.Repeat("d", 40), At: now.Add(-10 * time.Minute), Detail: "probes: 2 of 2 probes failed"}
	st.Targets = append(st.Targets, drifted)
	got := st.Text(now)
	for _, want := range []string{
		"SERVICE        ENVIRONMENT  VERDICT  DEPLOYS  LIVE     SINCE  SOAK    ADDRESS",
		"platform-demo  staging      in sync  aaaaaaa  aaaaaaa  2h     passed  http://svc",
		"hello          staging      drifted  aaaaaaa  bbbbbbb  2h     passed  http://svc",
		"hello in staging: ddddddd failed its soak 10m ago, and aaaaaaa runs instead: probes: 2 of 2 probes failed",
		// Only what is not in sync gets its details.
		"hello in staging: drifted", "deploys   aaaaaaa  r/p:1@sha256:00", "gitops ccccccc, 3m ago", "registry  has the image",
		"live      http://svc  bbbbbbb, up since", "(2h ago)", "argo cd   Synced, Healthy at ccccccc",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Text() lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "platform-demo in staging:") {
		t.Errorf("Text() details a target in sync:\n%s", got)
	}
	if bad := st.Bad(); len(bad) != 1 || bad[0] != "hello in staging is drifted" {
		t.Errorf("Bad() = %q, want hello in staging", bad)
	}
}
