package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Units of a measure's samples. Durations are in seconds and sizes in bytes,
// so that JSON readers need no unit conversion beyond the name.
const (
	UnitSeconds = "s"
	UnitBytes   = "bytes"
	UnitRate    = "req/s"
	UnitCount   = "calls"
	UnitNumber  = "n"
)

// Stats summarises the samples of one measure.
type Stats struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	// N is the number of samples.
	N int `json:"n"`
}

// Summarize returns the minimum, median and maximum of samples. The median of
// an even count is the mean of the two middle samples. No samples give the
// zero Stats.
func Summarize(samples []float64) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stats{Min: s[0], Median: med, Max: s[n-1], N: n}
}

// Goal is the bound a measure should meet, on its ratio to its reference or
// on its own value.
type Goal struct {
	// OnRatio bounds the ratio to the reference; otherwise the measure's
	// own value is bounded.
	OnRatio bool `json:"onRatio"`
	// AtLeast makes Limit a lower bound; otherwise it is an upper bound.
	AtLeast bool `json:"atLeast"`
	// Limit is the bound, in the measure's unit unless OnRatio.
	Limit float64 `json:"limit"`
	// Worst judges the worst run (the highest value, or the lowest for an
	// AtLeast goal) instead of the median: for bounds that must always hold.
	Worst bool `json:"worst,omitempty"`
}

// Met reports whether m meets g. A goal on a ratio is not met when there is
// no reference to divide by.
func (g Goal) Met(m Measure) bool {
	v, ok := g.judged(m)
	if !ok {
		return false
	}
	if g.AtLeast {
		return v >= g.Limit
	}
	return v <= g.Limit
}

// judged is the value of m the goal bounds: the median or the worst run, of
// the ratios or of the samples. ok is false when a ratio is wanted and m has
// no reference.
func (g Goal) judged(m Measure) (v float64, ok bool) {
	st, scale := m.Stats, 1.0
	if g.OnRatio {
		switch {
		case m.Reference == "" || m.RefMedian == 0:
			return 0, false
		case !g.Worst:
			return m.Ratio, true
		case len(m.Ratios) > 0:
			st = Summarize(m.Ratios)
		default:
			scale = 1 / m.RefMedian
		}
	}
	switch {
	case !g.Worst:
		return st.Median * scale, true
	case g.AtLeast:
		return st.Min * scale, true
	}
	return st.Max * scale, true
}

// text renders the goal for the table, e.g. "≤ 2×", "≤ 6.0 MB" or, for a
// goal on the worst run, "max ≤ 1×".
func (g Goal) text(unit string) string {
	op := "≤ "
	if g.AtLeast {
		op = "≥ "
	}
	switch {
	case g.Worst && g.AtLeast:
		op = "min " + op
	case g.Worst:
		op = "max " + op
	}
	if g.OnRatio {
		return op + trimFloat(g.Limit) + "×"
	}
	return op + formatValue(g.Limit, unit)
}

// Measure is one row of the report.
type Measure struct {
	// Group is the numbered part of the bench the measure belongs to, e.g.
	// "2 publish".
	Group string `json:"group"`
	// Name says what was measured, e.g. "push→live".
	Name string `json:"name"`
	// Unit is one of the Unit constants.
	Unit string `json:"unit"`
	// Samples are the values, one per run.
	Samples []float64 `json:"samples"`
	Stats   Stats     `json:"stats"`
	// Reference names what the measure is compared with, measured in the
	// same runs; empty when there is none.
	Reference string `json:"reference,omitempty"`
	// RefMedian is the reference's median, in the measure's unit.
	RefMedian float64 `json:"refMedian,omitempty"`
	// Ratios are the per-run ratios of a sample to the reference's sample
	// of the same run, when both have one sample per run.
	Ratios []float64 `json:"ratios,omitempty"`
	// Ratio is the median of Ratios: pairing the runs cancels the drift of
	// a shared machine's load between runs. Without pairs it is
	// Stats.Median / RefMedian. Zero without a reference.
	Ratio float64 `json:"ratio,omitempty"`
	// Goal is nil for measures reported for context only.
	Goal *Goal `json:"goal,omitempty"`
	// Met is set when Goal is.
	Met *bool `json:"met,omitempty"`
	// Note says how the value was taken when the name does not.
	Note string `json:"note,omitempty"`
	// Detail marks a row that details the row above it, or is its
	// reference; the table indents it.
	Detail bool `json:"detail,omitempty"`
}

// newMeasure builds a measure from its samples, compared with ref when ref
// has samples, and judged against goal when goal is not nil.
func newMeasure(group, name, unit string, samples []float64, ref *Measure, goal *Goal) Measure {
	m := Measure{Group: group, Name: strings.TrimSpace(name), Unit: unit, Samples: samples, Stats: Summarize(samples), Goal: goal}
	if ref != nil && ref.Stats.N > 0 {
		m.Reference, m.RefMedian = ref.Name, ref.Stats.Median
		if len(ref.Samples) == len(samples) {
			for i, s := range samples {
				if ref.Samples[i] != 0 {
					m.Ratios = append(m.Ratios, s/ref.Samples[i])
				}
			}
		}
		switch {
		case len(m.Ratios) == len(samples):
			m.Ratio = Summarize(m.Ratios).Median
		case ref.Stats.Median != 0:
			m.Ratios = nil
			m.Ratio = m.Stats.Median / ref.Stats.Median
		}
	}
	if goal != nil && m.Stats.N > 0 {
		met := goal.Met(m)
		m.Met = &met
	}
	return m
}

// sub marks m as a detail of the row above it.
func (m Measure) sub() Measure {
	m.Detail = true
	return m
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemTotal   string `json:"memTotal"`
	GoVersion  string `json:"goVersion"`
	// LoadBefore and LoadAfter are the 1-minute load averages at the start
	// and the end: above the CPU count, other work shared the machine.
	LoadBefore float64 `json:"loadBefore"`
	LoadAfter  float64 `json:"loadAfter"`
}

// Report is the result of one bench run.
type Report struct {
	Date    time.Time `json:"date"`
	Runs    int       `json:"runs"`
	Machine Machine   `json:"machine"`
	// Load names the HTTP load generator used: wrk, or the built-in Go one.
	Load     string    `json:"load,omitempty"`
	Measures []Measure `json:"measures"`
	// Notes explain missed goals and measures that could not be taken.
	Notes []string `json:"notes,omitempty"`
}

// Missed returns the measures whose goal was not met.
func (r Report) Missed() []Measure {
	var out []Measure
	for _, m := range r.Measures {
		if m.Met != nil && !*m.Met {
			out = append(out, m)
		}
	}
	return out
}

// JSON returns the report as indented JSON.
func (r Report) JSON() ([]byte, error) {
	return json.MarshalIndent(r, "", "  ")
}

// Text renders the report as a table for a terminal, with a header naming
// the date and the machine, and the notes after it.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bench %s: %d runs per measure, %d CPUs, %s RAM, %s, load %.1f → %.1f",
		r.Date.Format("2006-01-02 15:04 MST"), r.Runs, r.Machine.CPUs, r.Machine.MemTotal, r.Machine.GoVersion,
		r.Machine.LoadBefore, r.Machine.LoadAfter)
	if r.Load != "" {
		fmt.Fprintf(&b, ", HTTP load: %s", r.Load)
	}
	b.WriteString("\n\n")
	rows := [][]string{{"MEASURE", "MIN", "MEDIAN", "MAX", "REFERENCE (median)", "RATIO", "GOAL", "MET"}}
	titles := map[int]string{} // row index -> group title printed before it
	group := ""
	for _, m := range r.Measures {
		if m.Group != group {
			group = m.Group
			titles[len(rows)] = group
		}
		indent := "  "
		if m.Detail {
			indent = "    "
		}
		ref, ratio := "", ""
		if m.Reference != "" {
			ref = fmt.Sprintf("%s (%s)", m.Reference, formatValue(m.RefMedian, m.Unit))
			ratio = fmt.Sprintf("%.2f", m.Ratio)
		}
		goal, met := "", ""
		if m.Goal != nil {
			goal = m.Goal.text(m.Unit)
			met = "no"
			if m.Met != nil && *m.Met {
				met = "yes"
			}
		}
		min, med, max := "-", "-", "-"
		if m.Stats.N > 0 {
			min, med, max = formatValue(m.Stats.Min, m.Unit), formatValue(m.Stats.Median, m.Unit), formatValue(m.Stats.Max, m.Unit)
		}
		rows = append(rows, []string{indent + m.Name, min, med, max, ref, ratio, goal, met})
	}
	// Group titles stand on lines of their own and take no part in the
	// column widths.
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for i, row := range rows {
		if t, ok := titles[i]; ok {
			b.WriteString(t + "\n")
		}
		var line strings.Builder
		for j, cell := range row {
			line.WriteString(cell)
			if j < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(cell)+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// formatValue renders v in unit for a person: durations in ms or s, sizes
// in MB (10^6 bytes, as registries report them), rates and counts whole.
func formatValue(v float64, unit string) string {
	switch unit {
	case UnitSeconds:
		switch d := math.Abs(v); {
		case d == 0:
			return "0"
		case d < 100e-6:
			return fmt.Sprintf("%.1fµs", v*1e6)
		case d < 1e-3:
			return fmt.Sprintf("%.0fµs", v*1e6)
		case d < 0.01:
			return fmt.Sprintf("%.2fms", v*1e3)
		case d < 1:
			return fmt.Sprintf("%.0fms", v*1e3)
		}
		return fmt.Sprintf("%.2fs", v)
	case UnitBytes:
		return fmt.Sprintf("%.1f MB", v/1e6)
	case UnitRate:
		return fmt.Sprintf("%.0f/s", v)
	case UnitCount:
		return trimFloat(v)
	}
	return trimFloat(v)
}

// trimFloat renders v with at most two decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
