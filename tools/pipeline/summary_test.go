package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sample() Summary {
	return Summary{
		Mode: "local", Commit: "77b10fa9cd12d563820e1230a4fdceccfb199718", Version: "77b10fa",
		Stages: []Stage{
			{Name: "test", Status: StatusSkipped, Detail: "run by the caller"},
			{Name: "publish", Status: StatusOK, Duration: 1500 * time.Millisecond, Detail: "127.0.0.1:5055/platform-demo:77b10fa@sha256:ab"},
			{Name: "bump", Status: StatusFailed, Duration: 20 * time.Millisecond, Detail: "push rejected | twice\nsecond line"},
		},
		Total: 1520 * time.Millisecond,
	}
}

func TestSummaryText(t *testing.T) {
	want := `STAGE    RESULT   TIME  DETAIL
test     skipped  -     run by the caller
publish  ok       1.5s  127.0.0.1:5055/platform-demo:77b10fa@sha256:ab
bump     failed   20ms  push rejected | twice …
total             1.5s  failed at bump
`
	if diff := cmp.Diff(want, sample().Text()); diff != "" {
		t.Errorf("Text() mismatch (-want +got):\n%s", diff)
	}
}

func TestSummaryMarkdown(t *testing.T) {
	got := sample().Markdown()
	for _, want := range []string{
		"| stage | result | time | detail |",
		"| bump | failed | 20ms | `push rejected \\| twice …` |",
		"| **total** | | **1.5s** | `failed at bump` |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Markdown() lacks %q:\n%s", want, got)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	s := sample()
	s.Live = 3 * time.Second
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Mode   string  `json:"mode"`
		Total  float64 `json:"totalSeconds"`
		Live   float64 `json:"pushToLiveSeconds"`
		Stages []struct {
			Name    string  `json:"name"`
			Status  string  `json:"status"`
			Seconds float64 `json:"seconds"`
		} `json:"stages"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	if got.Mode != "local" || got.Total != 1.52 || got.Live != 3 || len(got.Stages) != 3 || got.Stages[1].Seconds != 1.5 || got.Stages[2].Status != "failed" {
		t.Errorf("JSON = %s, want mode, totals and stages in seconds", b)
	}
}
