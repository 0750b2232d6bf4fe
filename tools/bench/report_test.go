package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []float64
		want    Stats
	}{
		{name: "none", samples: nil, want: Stats{}},
		{name: "one", samples: []float64{3}, want: Stats{Min: 3, Median: 3, Max: 3, N: 1}},
		{name: "odd count, unsorted", samples: []float64{5, 1, 4, 2, 3}, want: Stats{Min: 1, Median: 3, Max: 5, N: 5}},
		{name: "even count takes the mean of the middle two", samples: []float64{4, 1, 3, 2}, want: Stats{Min: 1, Median: 2.5, Max: 4, N: 4}},
		{name: "repeated values", samples: []float64{2, 2, 9, 2, 2}, want: Stats{Min: 2, Median: 2, Max: 9, N: 5}},
		{name: "negative values", samples: []float64{-1, -3, -2}, want: Stats{Min: -3, Median: -2, Max: -1, N: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.samples); got != tt.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tt.samples, got, tt.want)
			}
		})
	}
}

// TestSummarizeKeepsSamples guards against sorting the caller's slice, which
// would scramble the run order the per-run ratios depend on.
func TestSummarizeKeepsSamples(t *testing.T) {
	s := []float64{3, 1, 2}
	Summarize(s)
	if diff := cmp.Diff([]float64{3, 1, 2}, s); diff != "" {
		t.Errorf("samples after Summarize (-want +got):\n%s", diff)
	}
}

func TestNewMeasureRatioAndGoal(t *testing.T) {
	ref := newMeasure("g", "floor", UnitSeconds, []float64{1, 2, 4, 1, 1}, nil, nil)
	tests := []struct {
		name      string
		samples   []float64
		ref       *Measure
		goal      *Goal
		wantRatio float64
		wantMet   *bool
	}{
		{
			// Per-run ratios 2, 1, 0.5, 3, 2: their median, not the ratio of
			// the medians (2/1), is the result.
			name: "paired runs give the median of the per-run ratios", samples: []float64{2, 2, 2, 3, 2}, ref: &ref,
			goal: &Goal{OnRatio: true, Limit: 2}, wantRatio: 2, wantMet: ptr(true),
		},
		{
			name: "ratio above an upper bound", samples: []float64{3, 6, 12, 3, 3}, ref: &ref,
			goal: &Goal{OnRatio: true, Limit: 2}, wantRatio: 3, wantMet: ptr(false),
		},
		{
			name: "lower bound on the ratio", samples: []float64{0.9, 1.8, 3.6, 0.9, 0.9}, ref: &ref,
			goal: &Goal{OnRatio: true, AtLeast: true, Limit: 0.8}, wantRatio: 0.9, wantMet: ptr(true),
		},
		{
			name: "worst run decides a worst-case goal", samples: []float64{1, 2, 4, 1, 1.5}, ref: &ref,
			goal: &Goal{OnRatio: true, Limit: 1, Worst: true}, wantRatio: 1, wantMet: ptr(false),
		},
		{
			name: "unpaired reference gives the ratio of medians", samples: []float64{3, 3, 3}, ref: &ref,
			goal: &Goal{OnRatio: true, Limit: 2}, wantRatio: 3, wantMet: ptr(false),
		},
		{
			name: "goal on the value", samples: []float64{5e6, 7e6, 5.5e6},
			goal: &Goal{Limit: 6e6}, wantMet: ptr(true),
		},
		{
			name: "worst value above the goal", samples: []float64{2, 2, 3},
			goal: &Goal{Limit: 2, Worst: true}, wantMet: ptr(false),
		},
		{
			name: "ratio goal without a reference is not met", samples: []float64{1, 1, 1},
			goal: &Goal{OnRatio: true, Limit: 2}, wantMet: ptr(false),
		},
		{name: "no goal, no verdict", samples: []float64{1, 2, 4, 1, 1}, ref: &ref, wantRatio: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMeasure("g", "m", UnitSeconds, tt.samples, tt.ref, tt.goal)
			if m.Ratio != tt.wantRatio {
				t.Errorf("newMeasure(%v).Ratio = %v, want %v", tt.samples, m.Ratio, tt.wantRatio)
			}
			if diff := cmp.Diff(tt.wantMet, m.Met); diff != "" {
				t.Errorf("newMeasure(%v).Met (-want +got):\n%s", tt.samples, diff)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		name string
		v    float64
		unit string
		want string
	}{
		{name: "seconds", v: 6.514, unit: UnitSeconds, want: "6.51s"},
		{name: "milliseconds", v: 0.0423, unit: UnitSeconds, want: "42ms"},
		{name: "sub-10ms keeps decimals", v: 0.00123, unit: UnitSeconds, want: "1.23ms"},
		{name: "microseconds", v: 23.4e-6, unit: UnitSeconds, want: "23.4µs"},
		{name: "hundreds of microseconds", v: 649e-6, unit: UnitSeconds, want: "649µs"},
		{name: "zero seconds", v: 0, unit: UnitSeconds, want: "0"},
		{name: "megabytes", v: 5_432_100, unit: UnitBytes, want: "5.4 MB"},
		{name: "rate", v: 24567.8, unit: UnitRate, want: "24568/s"},
		{name: "count", v: 2, unit: UnitCount, want: "2"},
		{name: "count with a fraction", v: 2.5, unit: UnitCount, want: "2.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatValue(tt.v, tt.unit); got != tt.want {
				t.Errorf("formatValue(%v, %q) = %q, want %q", tt.v, tt.unit, got, tt.want)
			}
		})
	}
}

func TestGoalText(t *testing.T) {
	tests := []struct {
		name string
		goal Goal
		unit string
		want string
	}{
		{name: "ratio upper bound", goal: Goal{OnRatio: true, Limit: 2}, unit: UnitSeconds, want: "≤ 2×"},
		{name: "ratio lower bound", goal: Goal{OnRatio: true, AtLeast: true, Limit: 0.8}, unit: UnitRate, want: "≥ 0.8×"},
		{name: "fractional ratio", goal: Goal{OnRatio: true, Limit: 1.05}, unit: UnitSeconds, want: "≤ 1.05×"},
		{name: "size", goal: Goal{Limit: 6e6}, unit: UnitBytes, want: "≤ 6.0 MB"},
		{name: "worst run", goal: Goal{Limit: 2, Worst: true}, unit: UnitCount, want: "max ≤ 2"},
		{name: "worst run of a lower bound", goal: Goal{OnRatio: true, AtLeast: true, Limit: 0.8, Worst: true}, unit: UnitRate, want: "min ≥ 0.8×"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.goal.text(tt.unit); got != tt.want {
				t.Errorf("%+v.text(%q) = %q, want %q", tt.goal, tt.unit, got, tt.want)
			}
		})
	}
}

func TestReportText(t *testing.T) {
	floor := newMeasure("1 loop", "floor", UnitSeconds, []float64{2, 2, 2, 2, 2}, nil, nil)
	ko := newMeasure("2 publish", "ko CLI", UnitSeconds, []float64{1, 1, 1, 1, 1}, nil, nil)
	rep := Report{
		Date:    time.Date(2026, 5, 9, 10, 30, 0, 0, time.UTC),
		Runs:    5,
		Machine: Machine{CPUs: 2, MemTotal: "23.5 GiB", GoVersion: "go1.26.8", LoadBefore: 3.5, LoadAfter: 4.3},
		Load:    "wrk -t2 -c32",
		Measures: []Measure{
			newMeasure("1 loop", "push→live", UnitSeconds, []float64{3, 4, 5, 4, 4}, &floor, &Goal{OnRatio: true, Limit: 2}),
			floor.sub(),
			newMeasure("2 publish", "publish.Image", UnitSeconds, []float64{1.2, 1.2, 1.2, 1.2, 1.2}, &ko, &Goal{OnRatio: true, Limit: 1.05}),
			ko.sub(),
		},
		Notes: []string{"missed: publish.Image"},
	}
	want := `bench 2026-05-09 10:30 UTC: 5 runs per measure, 2 CPUs, 23.5 GiB RAM, go1.26.8, load 3.5 → 4.3, HTTP load: wrk -t2 -c32

MEASURE          MIN    MEDIAN  MAX    REFERENCE (median)  RATIO  GOAL     MET
1 loop
  push→live      3.00s  4.00s   5.00s  floor (2.00s)       2.00   ≤ 2×     yes
    floor        2.00s  2.00s   2.00s
2 publish
  publish.Image  1.20s  1.20s   1.20s  ko CLI (1.00s)      1.20   ≤ 1.05×  no
    ko CLI       1.00s  1.00s   1.00s

- missed: publish.Image
`
	if diff := cmp.Diff(want, rep.Text()); diff != "" {
		t.Errorf("Text() (-want +got):\n%s", diff)
	}
}

// TestReportJSON guards the field names dashboards read.
func TestReportJSON(t *testing.T) {
	m := newMeasure("3 bump", "API calls", UnitCount, []float64{2, 2, 2, 2, 2}, nil, &Goal{Limit: 2, Worst: true})
	rep := Report{Runs: 5, Measures: []Measure{m}}
	b, err := rep.JSON()
	if err != nil {
		t.Fatalf("JSON() error: %v", err)
	}
	var got struct {
		Runs     int `json:"runs"`
		Measures []struct {
			Name  string `json:"name"`
			Unit  string `json:"unit"`
			Stats Stats  `json:"stats"`
			Met   *bool  `json:"met"`
		} `json:"measures"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("JSON() is not JSON: %v\n%s", err, b)
	}
	if got.Runs != 5 || len(got.Measures) != 1 {
		t.Fatalf("JSON() = %s, want 5 runs and 1 measure", b)
	}
	g := got.Measures[0]
	if g.Name != "API calls" || g.Unit != UnitCount || g.Stats.Median != 2 || g.Met == nil || !*g.Met {
		t.Errorf("JSON() measure = %+v, want API calls, calls, median 2, met", g)
	}
}

func TestMissed(t *testing.T) {
	rep := Report{Measures: []Measure{
		newMeasure("g", "met", UnitCount, []float64{1}, nil, &Goal{Limit: 2}),
		newMeasure("g", "missed", UnitCount, []float64{3}, nil, &Goal{Limit: 2}),
		newMeasure("g", "no goal", UnitCount, []float64{3}, nil, nil),
	}}
	var names []string
	for _, m := range rep.Missed() {
		names = append(names, m.Name)
	}
	if diff := cmp.Diff([]string{"missed"}, names); diff != "" {
		t.Errorf("Missed() (-want +got):\n%s", diff)
	}
	if !strings.Contains(explain(rep.Measures[1]), "median 3, goal ≤ 2") {
		t.Errorf("explain(missed) = %q, want it to name the median and the goal", explain(rep.Measures[1]))
	}
}

func ptr[T any](v T) *T { return &v }
