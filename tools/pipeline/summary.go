package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Stage statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Results of a service in a run.
const (
	// Deployed: the run took the service's commit live (and verified it
	// where it could).
	Deployed = "deployed"
	// Unchanged: the environment runs the service's commit already; the
	// run did nothing to it.
	Unchanged = "unchanged"
	// Proposed: the change waits in a pull request (BUMP_MODE=pr) or on a
	// branch for one; nothing is deployed until it merges.
	Proposed = "proposed"
	// Newer: the environment runs a newer commit of the service; the run
	// stood down.
	Newer = "newer"
	// Failed: a stage failed for the service.
	Failed = "failed"
	// RolledBack: the service went live, failed its soak and was rolled
	// back to what the environment ran before; the run fails.
	RolledBack = "rolled back"
	// Skipped: the run did not get to the service (the tests failed, or a
	// dry run).
	Skipped = "skipped"
)

// Stage is one step of a run as the summary reports it.
type Stage struct {
	// Service is the service the stage is of; empty for a stage of the
	// whole run (test, plan).
	Service string `json:"service,omitempty"`
	// Name is the stage: test, plan, build, push, bump, refresh, rollout,
	// verify, check, pick.
	Name string `json:"name"`
	// Status is ok, failed or skipped.
	Status string `json:"status"`
	// Start is when the stage started, from the start of the run; stages
	// that overlap (the tests and the image builds) show it.
	Start time.Duration `json:"-"`
	// Duration is the stage's wall time.
	Duration time.Duration `json:"-"`
	// Detail is the stage's result (image ref, gitops commit, live commit),
	// its error, or why it was skipped.
	Detail string `json:"detail"`
}

// label names the stage in a table: "platform-demo verify", "test".
func (st Stage) label() string {
	if st.Service == "" {
		return st.Name
	}
	return st.Service + " " + st.Name
}

// ServiceResult is what a run did to one service.
type ServiceResult struct {
	Service string `json:"service"`
	// Result is Deployed, Unchanged, Proposed, Newer, Failed or Skipped.
	Result string `json:"result"`
	// Commit is the service's source commit the run took (or found) live.
	Commit string `json:"commit,omitempty"`
	// Detail says why, in one line: since when it is unchanged, what
	// failed, where it answers.
	Detail string `json:"detail"`
	// Image is the reference deployed, repo:tag@sha256:...
	Image string `json:"image,omitempty"`
	// GitopsCommit is the gitops commit that deploys Image, and GitopsURL
	// its web page when there is one.
	GitopsCommit string `json:"gitopsCommit,omitempty"`
	GitopsURL    string `json:"gitopsURL,omitempty"`
	// PR and PRURL are the pull request a proposed change waits in; Branch
	// its branch.
	PR     int    `json:"pullRequest,omitempty"`
	PRURL  string `json:"pullRequestURL,omitempty"`
	Branch string `json:"branch,omitempty"`
	// LiveCommit is the commit /version reported when verify ended.
	LiveCommit string `json:"liveCommit,omitempty"`
	// Replaced and ReplacedCommit are the image and source commit the
	// manifest deployed before the run.
	Replaced       string `json:"replaced,omitempty"`
	ReplacedCommit string `json:"replacedCommit,omitempty"`
	// Live is the time from the run's start until verify first saw Commit.
	Live time.Duration `json:"-"`
	// Verdict is the soak's, VerdictPassed or VerdictFailed; empty when
	// none ran. VerdictDetail gives its figures, or the failed check's.
	Verdict       string `json:"verdict,omitempty"`
	VerdictDetail string `json:"verdictDetail,omitempty"`
	// RolledBackTo is the source commit a failed soak rolled back to.
	RolledBackTo string `json:"rolledBackTo,omitempty"`
	// Judged is the time from the run's start until the soak's verdict.
	Judged time.Duration `json:"-"`
}

// Summary is the record of one run: what each stage did and how long it
// took, and what happened to each service, for people (Text, Markdown) and
// machines (JSON).
type Summary struct {
	// Action is what the run did, when not `mage ci`'s deploy or gate:
	// "promote", "rollback".
	Action string `json:"action,omitempty"`
	// Environment is the environment the run deployed to.
	Environment string `json:"environment,omitempty"`
	Mode        string `json:"mode"`
	// Commit and Version are the source repository's commit the run was
	// started at.
	Commit  string `json:"commit"`
	Version string `json:"version"`
	// Deploy reports whether the run took commits live or ran the gate
	// only, and Why says which event decided it.
	Deploy   bool            `json:"deploy"`
	Why      string          `json:"why"`
	Stages   []Stage         `json:"stages"`
	Services []ServiceResult `json:"services"`
	// Total is the run's wall time.
	Total time.Duration `json:"-"`
}

// Live is the time from the run's start until the last service it
// deployed went live; zero when none did.
func (s Summary) Live() time.Duration {
	var live time.Duration
	for _, r := range s.Services {
		live = max(live, r.Live)
	}
	return live
}

// Judged is the time from the run's start until the last soak it ran
// gave its verdict; zero when none did.
func (s Summary) Judged() time.Duration {
	var judged time.Duration
	for _, r := range s.Services {
		judged = max(judged, r.Judged)
	}
	return judged
}

// Service returns the result of the named service.
func (s Summary) Service(name string) (ServiceResult, bool) {
	for _, r := range s.Services {
		if r.Service == name {
			return r, true
		}
	}
	return ServiceResult{}, false
}

// Count says how many services had each result.
func (s Summary) Count(result string) int {
	n := 0
	for _, r := range s.Services {
		if r.Result == result {
			n++
		}
	}
	return n
}

// MarshalJSON adds the durations in seconds, the unit dashboards expect.
func (s Summary) MarshalJSON() ([]byte, error) {
	type stage struct {
		Stage
		StartSeconds float64 `json:"startSeconds"`
		Seconds      float64 `json:"seconds"`
	}
	stages := make([]stage, len(s.Stages))
	for i, st := range s.Stages {
		stages[i] = stage{st, st.Start.Seconds(), st.Duration.Seconds()}
	}
	type service struct {
		ServiceResult
		LiveSeconds    float64 `json:"toLiveSeconds,omitempty"`
		VerdictSeconds float64 `json:"toVerdictSeconds,omitempty"`
	}
	services := make([]service, len(s.Services))
	for i, r := range s.Services {
		services[i] = service{r, r.Live.Seconds(), r.Judged.Seconds()}
	}
	type plain Summary
	return json.Marshal(struct {
		plain
		Stages         []stage   `json:"stages"`
		Services       []service `json:"services"`
		TotalSeconds   float64   `json:"totalSeconds"`
		LiveSeconds    float64   `json:"pushToLiveSeconds,omitempty"`
		VerdictSeconds float64   `json:"pushToVerdictSeconds,omitempty"`
	}{plain(s), stages, services, s.Total.Seconds(), s.Live().Seconds(), s.Judged().Seconds()})
}

// Failed returns the first failed stage, if any.
func (s Summary) Failed() (Stage, bool) {
	for _, st := range s.Stages {
		if st.Status == StatusFailed {
			return st, true
		}
	}
	return Stage{}, false
}

// Text renders the summary as two aligned tables for a terminal: the
// stages, whose START and END are offsets from the start of the run so
// that stages side by side show it, and a line per service.
func (s Summary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", strings.TrimSpace(s.Version+" "+s.scope()), s.Why)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STAGE\tRESULT\tSTART\tEND\tTIME\tDETAIL\n")
	for _, st := range s.Stages {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.label(), st.Status, offset(st.Start), st.end(), round(st.Duration), firstLine(st.Detail))
	}
	fmt.Fprintf(tw, "total\t\t\t%s\t%s\t%s\n", offset(s.Total), round(s.Total), s.liveLine())
	tw.Flush()
	if len(s.Services) > 0 {
		b.WriteByte('\n')
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "SERVICE\tRESULT\tCOMMIT\tDETAIL\n")
		for _, r := range s.Services {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Service, r.Result, orDash(short(r.Commit)), firstLine(r.Detail))
		}
		tw.Flush()
	}
	return b.String()
}

// Markdown renders the summary for $GITHUB_STEP_SUMMARY.
func (s Summary) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### platform-demo pipeline `%s`: %s (%s mode)\n\n%s\n\n", s.Version, s.scope(), s.Mode, mdText(s.Why))
	if len(s.Services) > 0 {
		b.WriteString("| service | result | commit | detail |\n|---|---|---|---|\n")
		for _, r := range s.Services {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Service, r.Result, mdCell(short(r.Commit)), mdCell(firstLine(r.Detail)))
		}
		b.WriteByte('\n')
	}
	b.WriteString("| stage | result | start | end | time | detail |\n|---|---|---:|---:|---:|---|\n")
	for _, st := range s.Stages {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", st.label(), st.Status, offset(st.Start), st.end(), round(st.Duration), mdCell(firstLine(st.Detail)))
	}
	fmt.Fprintf(&b, "| **total** | | | %s | **%s** | %s |\n", offset(s.Total), round(s.Total), mdCell(s.liveLine()))
	return b.String()
}

func (s Summary) scope() string {
	if s.Action != "" {
		return s.Action + " " + s.Environment
	}
	if s.Deploy {
		return "deploy"
	}
	return "gate only"
}

// end is when the stage ended, from the start of the run, or "-".
func (st Stage) end() string {
	if st.Status == StatusSkipped {
		return "-"
	}
	return offset(st.Start + st.Duration)
}

func offset(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func (s Summary) liveLine() string {
	live, judged := s.Live(), s.Judged()
	verdict := ""
	if judged > 0 {
		verdict = fmt.Sprintf(", to verdict: %s", round(judged))
	}
	if live > 0 && s.Action != "" {
		return fmt.Sprintf("to live: %s%s", round(live), verdict)
	}
	if live > 0 {
		return fmt.Sprintf("push to live: %s%s", round(live), verdict)
	}
	if st, ok := s.Failed(); ok {
		return "failed at " + st.label()
	}
	return ""
}

func round(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func mdCell(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "|", "\\|") + "`"
}

func mdText(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteSummary writes s as JSON to jsonPath and, when stepSummary is set
// (GITHUB_STEP_SUMMARY inside Actions), appends its markdown table there,
// and when stepOutput is set (GITHUB_OUTPUT), its Outputs.
func WriteSummary(s Summary, jsonPath, stepSummary, stepOutput string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if stepSummary != "" {
		if err := appendFile(stepSummary, s.Markdown()); err != nil {
			return fmt.Errorf("append to GITHUB_STEP_SUMMARY: %w", err)
		}
	}
	if stepOutput != "" {
		outs := s.Outputs()
		keys := make([]string, 0, len(outs))
		for k := range outs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, outs[k])
		}
		if err := appendFile(stepOutput, b.String()); err != nil {
			return fmt.Errorf("append to GITHUB_OUTPUT: %w", err)
		}
	}
	return nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pushedImage is an image the run pushed, as the attestation step takes it.
type pushedImage struct {
	Service string `json:"service"`
	Image   string `json:"image"`
	Digest  string `json:"digest"`
}

// Outputs are the step outputs `mage ci` gives the rest of its GitHub
// Actions job ($GITHUB_OUTPUT): deploy (true or false), commit (the source
// commit the run started at), deployed (the services deployed, space
// separated), live (true when every deployed service was verified), and
// images, a JSON list of {service, image, digest} of the images pushed,
// which the job attests one by one.
func (s Summary) Outputs() map[string]string {
	var deployed []string
	var images []pushedImage
	live := true
	for _, r := range s.Services {
		if r.Image != "" && (r.Result == Deployed || r.Result == Proposed || r.Result == Failed || r.Result == RolledBack) {
			if repoTag, digest, ok := strings.Cut(r.Image, "@"); ok {
				repo := repoTag
				if i := strings.LastIndexByte(repoTag, ':'); i > strings.LastIndexByte(repoTag, '/') {
					repo = repoTag[:i]
				}
				images = append(images, pushedImage{Service: r.Service, Image: repo, Digest: digest})
			}
		}
		if r.Result == Deployed {
			deployed = append(deployed, r.Service)
			live = live && r.LiveCommit != "" && r.LiveCommit == r.Commit
		}
	}
	if images == nil {
		images = []pushedImage{}
	}
	js, _ := json.Marshal(images)
	return map[string]string{
		"deploy":   fmt.Sprint(s.Deploy),
		"commit":   s.Commit,
		"deployed": strings.Join(deployed, " "),
		"live":     fmt.Sprint(len(deployed) > 0 && live),
		"images":   string(js),
	}
}

// Notices are the GitHub Actions annotations a run deserves: a gate-only
// run, a skipped stage, a failure.
func (s Summary) Notices() []string {
	var out []string
	if !s.Deploy {
		out = append(out, fmt.Sprintf("::notice title=gate only::%s", annotation(s.Why)))
	}
	for _, st := range s.Stages {
		switch {
		case st.Status == StatusSkipped && st.Name != "test" && s.Deploy:
			out = append(out, fmt.Sprintf("::notice title=%s skipped::%s", st.label(), annotation(st.Detail)))
		case st.Status == StatusFailed:
			out = append(out, fmt.Sprintf("::error title=%s failed::%s", st.label(), annotation(st.Detail)))
		}
	}
	return out
}

// annotation escapes a message for a workflow command.
func annotation(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}
