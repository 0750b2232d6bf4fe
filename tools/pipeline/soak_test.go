package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/internal/fixture"
	"github.com/andrelair-platform/platform-demo/tools/manifest"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// breakService commits a version of svc whose / answers 500, a real bug
// the soak must catch; mend commits one without it.
func breakService(t *testing.T, root, svc, msg string) buildinfo.Info {
	t.Helper()
	path := filepath.Join(root, "services", svc, "fail.go")
	if err := os.WriteFile(path, []byte("package main\n\nfunc init() { fail = true }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return commit(t, root, msg)
}

func mend(t *testing.T, root, svc, msg string) buildinfo.Info {
	t.Helper()
	if err := os.Remove(filepath.Join(root, "services", svc, "fail.go")); err != nil {
		t.Fatal(err)
	}
	return change(t, root, svc, msg)
}

// gitopsManifest reads the manifest of the reference service at path at
// the head of the local gitops repository, and the message of the last
// commit that changed it.
func gitopsManifest(t *testing.T, root, path string) (manifest.Current, string) {
	t.Helper()
	dir := filepath.Join(root, ".state", "gitops.git")
	content := git(t, dir, "show", "main:"+path)
	cur, err := manifest.Read([]byte(content), fixture.Reference)
	if err != nil {
		t.Fatal(err)
	}
	return cur, git(t, dir, "log", "-1", "--format=%B", "main", "--", path)
}

// TestSoakRollsBack is the story of docs/verify.md on the local loop: a
// good commit goes live and passes its soak, which the manifest records;
// a commit whose / answers 500 goes live, fails its soak within two probe
// intervals, and staging is back on the good commit by a gitops commit
// that names the failed check and its figures, verified live; the run
// fails and says so; production is untouched, and takes the good commit
// only; the next good commit goes live and can be promoted.
func TestSoakRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, deploys and soaks three versions on the local loop")
	}
	t.Parallel()
	ctx := context.Background()
	root := clone(t)
	s := localSettings(t, root, "VERIFY_SOAK", "2s", "VERIFY_SOAK_INTERVAL", "50ms")
	staging, err := s.Target(fixture.Reference, s.First().Name)
	if err != nil {
		t.Fatal(err)
	}
	production, err := s.Target(fixture.Reference, "production")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join(root, "gitops", production.Path))
	if err != nil {
		t.Fatal(err)
	}
	seedProduction, err := manifest.Read(seed, fixture.Reference)
	if err != nil {
		t.Fatal(err)
	}

	good := change(t, root, fixture.Reference, "good")
	sum, err := Run(ctx, Options{Settings: s, Build: good})
	if err != nil {
		t.Fatalf("Run(good) = %v\n%s", err, sum.Text())
	}
	r := result(t, sum, fixture.Reference)
	if r.Result != Deployed || r.Verdict != VerdictPassed || r.Judged < r.Live {
		t.Fatalf("Run(good) = %+v, want it deployed, its soak passed after it went live\n%s", r, sum.Text())
	}
	goodImage := r.Image
	cur, msg := gitopsManifest(t, root, staging.Path)
	if v := ReadVerdicts(cur.Annotations).Of(goodImage); v == nil || v.Result != VerdictPassed || v.Commit != good.Commit {
		t.Errorf("staging's manifest records %+v on %s, want the passed soak of %s", v, goodImage, good.Commit)
	}
	if !strings.HasPrefix(msg, "ci("+fixture.Reference+"): verdict on "+good.Commit[:7]) || !strings.Contains(msg, "Reason: soak passed: ") {
		t.Errorf("the verdict's gitops commit says:\n%s\nwant its subject and the figures", msg)
	}

	bad := breakService(t, root, fixture.Reference, "answers 500 on /")
	sum, err = Run(ctx, Options{Settings: s, Build: bad})
	var rb *RolledBackError
	if !errors.As(err, &rb) {
		t.Fatalf("Run(bad) = %v, want a RolledBackError\n%s", err, sum.Text())
	}
	if rb.Breach.Check != verify.CheckProbes || rb.Breach.Result.Rounds > 2 {
		t.Errorf("the soak failed %s after %d rounds, want the probes within 2 intervals: %v", rb.Breach.Check, rb.Breach.Result.Rounds, err)
	}
	t.Logf("Run(bad):\n%s", sum.Text())
	r = result(t, sum, fixture.Reference)
	if r.Result != RolledBack || r.RolledBackTo != good.Commit || r.LiveCommit != good.Commit || r.Verdict != VerdictFailed {
		t.Errorf("Run(bad) = %+v, want it rolled back to %s, live again", r, good.Commit)
	}
	for _, want := range []string{"failed its soak: probes: ", "rolled back to " + good.Commit[:7], "live at http://"} {
		if !strings.Contains(r.Detail, want) {
			t.Errorf("the summary says %q, want it to say %q", r.Detail, want)
		}
	}
	if !strings.Contains(sum.Text(), ", to verdict: ") {
		t.Errorf("the summary does not show push to verdict apart from push to live:\n%s", sum.Text())
	}
	cur, msg = gitopsManifest(t, root, staging.Path)
	if cur.Image != goodImage || cur.SourceCommit != good.Commit {
		t.Errorf("staging deploys %s (%s) after the rollback, want %s (%s)", cur.Image, cur.SourceCommit, goodImage, good.Commit)
	}
	vs := ReadVerdicts(cur.Annotations)
	if vs.Failed == nil || vs.Failed.Commit != bad.Commit || !strings.HasPrefix(vs.Failed.Detail, "probes: ") || vs.Of(goodImage) != vs.Passed {
		t.Errorf("staging's verdicts = failed %+v, passed %+v; want the failure of %s recorded, and the good image's pass kept", vs.Failed, vs.Passed, bad.Commit)
	}
	for _, want := range []string{"ci(" + fixture.Reference + "): roll back to " + good.Commit[:7] + " (was " + bad.Commit[:7] + ")", "Reason: automatic: the soak of " + bad.Commit[:7] + " failed: probes: ", "answered 500"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the rollback's gitops commit says:\n%s\nwant %q", msg, want)
		}
	}
	if now, _ := gitopsManifest(t, root, production.Path); now.Image != seedProduction.Image {
		t.Errorf("production deploys %s after staging's failed soak, want it untouched (%s)", now.Image, seedProduction.Image)
	}

	// Production takes what staging runs and passed: the good commit.
	sum, err = Promote(ctx, PromoteOptions{Settings: s, Target: "production"})
	if r := result(t, sum, fixture.Reference); err != nil || r.Commit != good.Commit || r.Verdict != VerdictPassed {
		t.Fatalf("Promote(production) = %v, %+v; want %s promoted and soaked there\n%s", err, r, good.Commit, sum.Text())
	}

	next := mend(t, root, fixture.Reference, "fixed")
	sum, err = Run(ctx, Options{Settings: s, Build: next})
	if r := result(t, sum, fixture.Reference); err != nil || r.Result != Deployed || r.Verdict != VerdictPassed {
		t.Fatalf("Run(fixed) = %v, %+v; want it deployed and soaked\n%s", err, r, sum.Text())
	}
	sum, err = Promote(ctx, PromoteOptions{Settings: s, Target: "production"})
	if r := result(t, sum, fixture.Reference); err != nil || r.Commit != next.Commit {
		t.Fatalf("Promote(production) of the fix = %v, %+v\n%s", err, r, sum.Text())
	}
}

// TestPromoteOnlyWhatPassed guards the promotion's gate: with
// VERIFY_ROLLBACK=off a version that failed its soak stays in staging,
// and promote refuses it, naming the failure, unless told why, which
// the gitops commit records.
func TestPromoteOnlyWhatPassed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, deploys and soaks on the local loop")
	}
	t.Parallel()
	ctx := context.Background()
	root := clone(t)
	s := localSettings(t, root, "VERIFY_SOAK", "1s", "VERIFY_SOAK_INTERVAL", "50ms", "VERIFY_ROLLBACK", "off")
	production, err := s.Target(fixture.Reference, "production")
	if err != nil {
		t.Fatal(err)
	}

	bad := breakService(t, root, fixture.Reference, "answers 500 on /")
	sum, err := Run(ctx, Options{Settings: s, Build: bad})
	var breach *verify.BreachError
	if !errors.As(err, &breach) || !strings.Contains(err.Error(), "VERIFY_ROLLBACK=off") {
		t.Fatalf("Run(bad) = %v, want the soak's failure, left live\n%s", err, sum.Text())
	}
	if r := result(t, sum, fixture.Reference); r.Result != Failed || r.Verdict != VerdictFailed {
		t.Errorf("Run(bad) = %+v, want it failed, its verdict recorded", r)
	}

	sum, err = Promote(ctx, PromoteOptions{Settings: s, Target: "production"})
	if err == nil || !strings.Contains(err.Error(), "the soak of "+bad.Commit[:7]+" on staging failed") || !strings.Contains(err.Error(), "-unsoaked=") {
		t.Fatalf("Promote(production) = %v, want it refused, naming the failed soak and the override\n%s", err, sum.Text())
	}
	if _, msg := gitopsManifest(t, root, production.Path); strings.Contains(msg, bad.Commit[:7]) {
		t.Errorf("a refused promotion wrote production's manifest:\n%s", msg)
	}

	const why = "the 500s are the client's; INC-42"
	sum, err = Promote(ctx, PromoteOptions{Settings: s, Target: "production", Unsoaked: why})
	// Production's own soak fails the same way: the override lets the
	// image through the gate, not past its soak.
	if err == nil {
		t.Fatalf("Promote(production, unsoaked) = nil, want production's own soak to fail it\n%s", sum.Text())
	}
	cur, _ := gitopsManifest(t, root, production.Path)
	msg := git(t, filepath.Join(root, ".state", "gitops.git"), "log", "-3", "--format=%B", "main")
	if cur.SourceCommit != bad.Commit || !strings.Contains(msg, "promoted without a passed soak: "+why) {
		t.Errorf("production after the override deploys %s, its gitops commit says:\n%s\nwant %s and the reason", cur.SourceCommit, msg, bad.Commit)
	}
}
