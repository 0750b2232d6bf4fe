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
			{Name: "plan", Status: StatusOK, Start: 5 * time.Millisecond, Duration: 100 * time.Millisecond, Detail: "2 of 3 services changed: api, web"},
			{Service: "api", Name: "build", Status: StatusOK, Start: 110 * time.Millisecond, Duration: 1200 * time.Millisecond, Detail: "image of 77b10fa built; pushed once the tests pass"},
			{Service: "api", Name: "push", Status: StatusOK, Start: 4200 * time.Millisecond, Duration: 300 * time.Millisecond, Detail: "127.0.0.1:5055/api:77b10fa@sha256:ab"},
			{Service: "api", Name: "bump", Status: StatusFailed, Start: 4500 * time.Millisecond, Duration: 20 * time.Millisecond, Detail: "push rejected | twice\nsecond line"},
		},
		Services: []ServiceResult{
			{Service: "api", Result: Failed, Commit: "77b10fa9cd12d563820e1230a4fdceccfb199718", Detail: "push rejected | twice\nsecond line", Image: "127.0.0.1:5055/api:77b10fa@sha256:ab"},
			{Service: "web", Result: Deployed, Commit: "77b10fa9cd12d563820e1230a4fdceccfb199718", Detail: "live at http://127.0.0.1:8090", Image: "127.0.0.1:5055/web:77b10fa@sha256:cd", LiveCommit: "77b10fa9cd12d563820e1230a4fdceccfb199718", Live: 3 * time.Second},
			{Service: "zeta", Result: Unchanged, Commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", Detail: "staging runs it: no file it is built from changed since 1a2b3c4 (services/zeta/main.go)"},
		},
		Total: 4520 * time.Millisecond,
	}
}

func TestSummaryText(t *testing.T) {
	// START and END show the tests and the image build side by side.
	want := `77b10fa deploy: run outside GitHub Actions
STAGE      RESULT  START  END    TIME   DETAIL
test       ok      0s     4.2s   4.2s   29 packages: 2 ran, 27 cached
plan       ok      5ms    105ms  100ms  2 of 3 services changed: api, web
api build  ok      110ms  1.3s   1.2s   image of 77b10fa built; pushed once the tests pass
api push   ok      4.2s   4.5s   300ms  127.0.0.1:5055/api:77b10fa@sha256:ab
api bump   failed  4.5s   4.5s   20ms   push rejected | twice …
total                     4.5s   4.5s   push to live: 3s

SERVICE  RESULT     COMMIT   DETAIL
api      failed     77b10fa  push rejected | twice …
web      deployed   77b10fa  live at http://127.0.0.1:8090
zeta     unchanged  1a2b3c4  staging runs it: no file it is built from changed since 1a2b3c4 (services/zeta/main.go)
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
		"| api bump | failed | 4.5s | 4.5s | 20ms | `push rejected \\| twice …` |",
		"| **total** | | | 4.5s | **4.5s** | `push to live: 3s` |",
		"| service | result | commit | detail |",
		"| zeta | unchanged | `1a2b3c4` | `staging runs it: no file it is built from changed since 1a2b3c4 (services/zeta/main.go)` |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Markdown() lacks %q:\n%s", want, got)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	s := sample()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Mode   string  `json:"mode"`
		Total  float64 `json:"totalSeconds"`
		Live   float64 `json:"pushToLiveSeconds"`
		Stages []struct {
			Service string  `json:"service"`
			Name    string  `json:"name"`
			Status  string  `json:"status"`
			Seconds float64 `json:"seconds"`
		} `json:"stages"`
		Services []struct {
			Service string  `json:"service"`
			Result  string  `json:"result"`
			Live    float64 `json:"toLiveSeconds"`
		} `json:"services"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	if got.Mode != "local" || got.Total != 4.52 || got.Live != 3 || len(got.Stages) != 5 || got.Stages[3].Seconds != 0.3 || got.Stages[4].Status != "failed" || got.Stages[4].Service != "api" {
		t.Errorf("JSON = %s, want mode, totals and stages in seconds", b)
	}
	if len(got.Services) != 3 || got.Services[1].Result != Deployed || got.Services[1].Live != 3 {
		t.Errorf("JSON services = %+v, want a row per service with its time to live", got.Services)
	}
}

// TestSummaryOutputs guards what the workflow's attestation step reads:
// every image the run pushed, by service, even one whose bump failed.
func TestSummaryOutputs(t *testing.T) {
	got := sample().Outputs()
	want := map[string]string{
		"deploy": "true", "commit": "77b10fa9cd12d563820e1230a4fdceccfb199718", "deployed": "web", "live": "true",
		"images": `[{"service":"api","image":"127.0.0.1:5055/api","digest":"sha256:ab"},{"service":"web","image":"127.0.0.1:5055/web","digest":"sha256:cd"}]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Outputs() mismatch (-want +got):\n%s", diff)
	}
}
