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
		Deploy: true, Why: "run outside GitHub Actions",
		Stages: []Stage{
			{Name: "test", Status: StatusOK, Duration: 4200 * time.Millisecond, Detail: "29 packages: 2 ran, 27 cached"},
			{Name: "build", Status: StatusOK, Start: 10 * time.Millisecond, Duration: 1200 * time.Millisecond, Detail: "image built; pushed once the tests pass"},
			{Name: "push", Status: StatusOK, Start: 4200 * time.Millisecond, Duration: 300 * time.Millisecond, Detail: "127.0.0.1:5055/platform-demo:77b10fa@sha256:ab"},
			{Name: "bump", Status: StatusFailed, Start: 4500 * time.Millisecond, Duration: 20 * time.Millisecond, Detail: "push rejected | twice\nsecond line"},
		},
		Total: 4520 * time.Millisecond,
	}
}

func TestSummaryText(t *testing.T) {
	// START and END show the tests and the image build side by side.
	want := `77b10fa deploy: run outside GitHub Actions
STAGE  RESULT  START  END   TIME   DETAIL
test   ok      0s     4.2s  4.2s   29 packages: 2 ran, 27 cached
build  ok      10ms   1.2s  1.2s   image built; pushed once the tests pass
push   ok      4.2s   4.5s  300ms  127.0.0.1:5055/platform-demo:77b10fa@sha256:ab
bump   failed  4.5s   4.5s  20ms   push rejected | twice …
total                 4.5s  4.5s   failed at bump
`
	if diff := cmp.Diff(want, sample().Text()); diff != "" {
		t.Errorf("Text() mismatch (-want +got):\n%s", diff)
	}
}

func TestSummaryMarkdown(t *testing.T) {
	got := sample().Markdown()
	for _, want := range []string{
		"deploy (local mode)",
		"| stage | result | start | end | time | detail |",
		"| bump | failed | 4.5s | 4.5s | 20ms | `push rejected \\| twice …` |",
		"| **total** | | | 4.5s | **4.5s** | `failed at bump` |",
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
	if got.Mode != "local" || got.Total != 4.52 || got.Live != 3 || len(got.Stages) != 4 || got.Stages[2].Seconds != 0.3 || got.Stages[3].Status != "failed" {
		t.Errorf("JSON = %s, want mode, totals and stages in seconds", b)
	}
}
