package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	// Duration is the stage's wall time.
	Duration time.Duration `json:"-"`
	// Detail is the stage's result (image ref, gitops commit, live commit),
	// its error, or why it was skipped.
	Detail string `json:"detail"`
}

// Summary is the record of one run: what each stage did and how long it
// took, for people (Text, Markdown) and machines (JSON).
type Summary struct {
	Mode    string  `json:"mode"`
	Commit  string  `json:"commit"`
	Version string  `json:"version"`
	Stages  []Stage `json:"stages"`
	// Image is the pushed reference, repo:tag@sha256:...
	Image string `json:"image,omitempty"`
	// GitopsCommit is the gitops commit that deploys Image ("" when the bump
	// had nothing to change), and GitopsURL its web page when there is one.
	GitopsCommit string `json:"gitopsCommit,omitempty"`
	GitopsURL    string `json:"gitopsURL,omitempty"`
	// LiveCommit is the commit /version reported when verify ended.
	LiveCommit string `json:"liveCommit,omitempty"`
	// Total is the run's wall time; Live the time from the run's start until
	// verify first saw Commit live (zero when it did not).
	Total time.Duration `json:"-"`
	Live  time.Duration `json:"-"`
}

// MarshalJSON adds the durations in seconds, the unit dashboards expect.
func (s Summary) MarshalJSON() ([]byte, error) {
	type stage struct {
		Stage
		Seconds float64 `json:"seconds"`
	}
	stages := make([]stage, len(s.Stages))
	for i, st := range s.Stages {
		stages[i] = stage{st, st.Duration.Seconds()}
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

// Text renders the summary as an aligned table for a terminal.
func (s Summary) Text() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STAGE\tRESULT\tTIME\tDETAIL\n")
	for _, st := range s.Stages {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Name, st.Status, round(st.Duration), firstLine(st.Detail))
	}
	fmt.Fprintf(tw, "total\t\t%s\t%s\n", round(s.Total), s.liveLine())
	tw.Flush()
	return b.String()
}

// Markdown renders the summary for $GITHUB_STEP_SUMMARY.
func (s Summary) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### platform-demo `%s` (%s mode)\n\n", s.Version, s.Mode)
	b.WriteString("| stage | result | time | detail |\n|---|---|---:|---|\n")
	for _, st := range s.Stages {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", st.Name, st.Status, round(st.Duration), mdCell(firstLine(st.Detail)))
	}
	fmt.Fprintf(&b, "| **total** | | **%s** | %s |\n", round(s.Total), mdCell(s.liveLine()))
	return b.String()
}

func (s Summary) liveLine() string {
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
// (GITHUB_STEP_SUMMARY inside Actions), appends its markdown table there.
func WriteSummary(s Summary, jsonPath, stepSummary string) error {
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
	if stepSummary == "" {
		return nil
	}
	f, err := os.OpenFile(stepSummary, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append to GITHUB_STEP_SUMMARY: %w", err)
	}
	if _, err := f.WriteString(s.Markdown()); err != nil {
		f.Close()
		return fmt.Errorf("append to GITHUB_STEP_SUMMARY: %w", err)
	}
	return f.Close()
}
