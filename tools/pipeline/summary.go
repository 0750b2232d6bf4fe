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

// Stage is one step of a run as the summary reports it.
type Stage struct {
	// Name is the stage: test, publish, bump, refresh, rollout or verify.
	Name string `json:"name"`
	// Status is ok, failed or skipped.
	Status string `json:"status"`
	// Start is when the stage started, from the start of the run; stages
	// that overlap (the tests and the image build) show it.
	Start time.Duration `json:"-"`
	// Duration is the stage's wall time.
	Duration time.Duration `json:"-"`
	// Detail is the stage's result (image ref, gitops commit, live commit),
	// its error, or why it was skipped.
	Detail string `json:"detail"`
}

// Summary is the record of one run: what each stage did and how long it
// took, for people (Text, Markdown) and machines (JSON).
type Summary struct {
	// Action is what the run did, when not `mage ci`'s deploy or gate:
	// "promote", "rollback".
	Action string `json:"action,omitempty"`
	// Environment is the environment the run deployed to.
	Environment string `json:"environment,omitempty"`
	Mode        string `json:"mode"`
	Commit      string `json:"commit"`
	Version     string `json:"version"`
	// Deploy reports whether the run took the commit live or ran the gate
	// only, and Why says which event decided it.
	Deploy bool    `json:"deploy"`
	Why    string  `json:"why"`
	Stages []Stage `json:"stages"`
	// Image is the pushed reference, repo:tag@sha256:...
	Image string `json:"image,omitempty"`
	// GitopsCommit is the gitops commit that deploys Image ("" when the bump
	// had nothing to change), and GitopsURL its web page when there is one.
	GitopsCommit string `json:"gitopsCommit,omitempty"`
	GitopsURL    string `json:"gitopsURL,omitempty"`
	// LiveCommit is the commit /version reported when verify ended.
	LiveCommit string `json:"liveCommit,omitempty"`
	// Replaced and ReplacedCommit are the image and source commit the
	// environment's manifest deployed before the run (promote, rollback).
	// They are set only when the run changed what the manifest deploys.
	Replaced       string `json:"replaced,omitempty"`
	ReplacedCommit string `json:"replacedCommit,omitempty"`
	// Unchanged says the environment's manifest deployed Image already:
	// the run changed nothing in git (a promotion or rollback run twice).
	Unchanged bool `json:"unchanged,omitempty"`
	// ProposalBranch is the branch that proposes the change when the bump
	// only proposed it (BUMP_MODE=pr without a merge), and PullRequest and
	// ProposalURL its pull request, when the host opened one: nothing is
	// deployed until it is merged.
	ProposalBranch string `json:"proposalBranch,omitempty"`
	PullRequest    int    `json:"pullRequest,omitempty"`
	ProposalURL    string `json:"proposalURL,omitempty"`
	// Total is the run's wall time; Live the time from the run's start until
	// verify first saw Commit live (zero when it did not).
	Total time.Duration `json:"-"`
	Live  time.Duration `json:"-"`
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
	type plain Summary
	return json.Marshal(struct {
		plain
		Stages       []stage `json:"stages"`
		TotalSeconds float64 `json:"totalSeconds"`
		LiveSeconds  float64 `json:"pushToLiveSeconds,omitempty"`
	}{plain(s), stages, s.Total.Seconds(), s.Live.Seconds()})
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

// Text renders the summary as an aligned table for a terminal. START and
// END are offsets from the start of the run, so stages that ran side by
// side show it.
func (s Summary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", strings.TrimSpace(s.Version+" "+s.scope()), s.Why)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STAGE\tRESULT\tSTART\tEND\tTIME\tDETAIL\n")
	for _, st := range s.Stages {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Name, st.Status, offset(st.Start), st.end(), round(st.Duration), firstLine(st.Detail))
	}
	fmt.Fprintf(tw, "total\t\t\t%s\t%s\t%s\n", offset(s.Total), round(s.Total), s.liveLine())
	tw.Flush()
	return b.String()
}

// Markdown renders the summary for $GITHUB_STEP_SUMMARY.
func (s Summary) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### platform-demo `%s`: %s (%s mode)\n\n%s\n\n", s.Version, s.scope(), s.Mode, s.Why)
	b.WriteString("| stage | result | start | end | time | detail |\n|---|---|---:|---:|---:|---|\n")
	for _, st := range s.Stages {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", st.Name, st.Status, offset(st.Start), st.end(), round(st.Duration), mdCell(firstLine(st.Detail)))
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

// offset formats a time from the start of the run.
func offset(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func (s Summary) liveLine() string {
	if s.Live > 0 && s.Action != "" {
		return fmt.Sprintf("to live: %s", round(s.Live))
	}
	if s.Live > 0 {
		return fmt.Sprintf("push to live: %s", round(s.Live))
	}
	if st, ok := s.Failed(); ok {
		return "failed at " + st.Name
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

// Outputs are the step outputs `mage ci` gives the rest of its GitHub
// Actions job ($GITHUB_OUTPUT), such as the digest an attestation step
// signs: deploy (true or false), commit (the source commit), and once
// pushed image (the repository,
// without tag or digest), digest (sha256:...) and ref (the whole
// reference), and live (true when verify saw the commit).
func (s Summary) Outputs() map[string]string {
	out := map[string]string{"deploy": fmt.Sprint(s.Deploy), "commit": s.Commit, "live": fmt.Sprint(s.LiveCommit != "" && s.LiveCommit == s.Commit)}
	if repoTag, digest, ok := strings.Cut(s.Image, "@"); ok {
		repo := repoTag
		if i := strings.LastIndexByte(repoTag, ':'); i > strings.LastIndexByte(repoTag, '/') {
			repo = repoTag[:i]
		}
		out["image"], out["digest"], out["ref"] = repo, digest, s.Image
	}
	return out
}

// Notices are the GitHub Actions annotations a run deserves: a gate-only
// run, a skipped stage, a failure.
func (s Summary) Notices() []string {
	var out []string
	if !s.Deploy {
		out = append(out, fmt.Sprintf("::notice title=gate only::%s", s.Why))
	}
	for _, st := range s.Stages {
		switch {
		case st.Status == StatusSkipped && st.Name != "test" && s.Deploy:
			out = append(out, fmt.Sprintf("::notice title=%s skipped::%s", st.Name, annotation(st.Detail)))
		case st.Status == StatusFailed:
			out = append(out, fmt.Sprintf("::error title=%s failed::%s", st.Name, annotation(st.Detail)))
		}
	}
	return out
}

// annotation escapes a message for a workflow command.
func annotation(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}
