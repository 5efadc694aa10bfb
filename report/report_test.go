package report

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// t0 is in a zone other than UTC on purpose: the report must not depend on it.
var t0 = time.Date(2025, 3, 14, 10, 0, 0, 0, time.FixedZone("CET", 3600))

func at(sec float64) time.Time {
	return t0.Add(time.Duration(sec * float64(time.Second)))
}

// ramp is a series sampled every 2s from 0 to 60s.
func ramp(name string, f func(sec float64) float64) Series {
	s := Series{Name: name}
	for sec := 0.0; sec <= 60; sec += 2 {
		s.Points = append(s.Points, Point{T: at(sec), V: f(sec)})
	}
	return s
}

func passRun() Run {
	ttr := 7250 * time.Millisecond
	return Run{
		Scenario: "search-down", RunID: "ci-search-down-local-20250314T090000-a1b2",
		LabID: "default", Env: "local",
		Verdict:       "PASS",
		Why:           "All 3 checks passed; the projector caught up 7.25s after the fault ended.",
		StartedAt:     at(0),
		FinishedAt:    at(60),
		TimeToRecover: &ttr,
		Checks: []Check{
			{Name: "fault fired", Kind: "fault", Query: "fault_injected_total", Observed: "1", Expected: ">= 1", Pass: true},
			{Name: "lag recovers", Kind: "metric", Query: `max_over_time(outbox_lag_seconds[30s]) < 5`, Observed: "0.8", Expected: "< 5", Pass: true, Note: "after drain"},
			{Name: "no lost documents", Kind: "consistency", Observed: "lost 0, stale 0, ghost 0", Expected: "all 0", Pass: true},
		},
		Phases: []Phase{
			{Name: "preflight", Start: at(0), End: at(2)},
			{Name: "start", Start: at(2), End: at(8)},
			{Name: "ready", Start: at(8), End: at(10)},
			{Name: "inject", Start: at(10), End: at(30)},
			{Name: "drain", Start: at(30), End: at(45.5)},
			{Name: "collect", Start: at(45.5), End: at(60)},
		},
		FaultWindow: &Window{Start: at(10), End: at(30)},
		Plots: []Plot{
			{Title: "Projection lag", Unit: "s", Series: []Series{
				ramp("outbox_lag_seconds", func(s float64) float64 {
					if s < 10 || s > 38 {
						return 0.2
					}
					return math.Min(s-10, 20) * 0.9
				}),
			}},
			{Title: "Events", Unit: "events/s", Series: []Series{
				ramp("written", func(float64) float64 { return 120 }),
				ramp("projected", func(s float64) float64 {
					if s >= 10 && s < 30 {
						return 0
					}
					return 120
				}),
			}},
		},
		Recipe: []RecipeEntry{
			{Name: "rate", Value: "120/s", Source: "scenario"},
			{Name: "fault", Value: "search down 20s", Source: "scenario"},
			{Name: "database_url", Value: "postgres://firedrill:***@localhost/firedrill", Source: "env"},
		},
		Versions: map[string]string{"searchd": "v0.3.1", "firedrill": "v0.9.0", "postgres": "16.4", "go": "go1.26.8"},
		Notes:    []string{"traces: collector not reachable, spans not exported"},
	}
}

func failRun() Run {
	return Run{
		Scenario: "projector-crash", RunID: "ci-projector-crash-local-20250314T100000-ffee",
		LabID: "default", Env: "local",
		Verdict:    "fail",
		Why:        "Drain missed its 30s deadline (took 41.2s); 12 documents are stale.",
		StartedAt:  at(0),
		FinishedAt: at(75),
		Checks: []Check{
			{Name: "fault fired", Kind: "fault", Observed: "1", Expected: ">= 1", Pass: true},
			{Name: "drain deadline", Kind: "metric", Query: "drain_seconds < 30", Observed: "41.2", Expected: "< 30"},
			{Name: "consistency", Kind: "consistency", Observed: "lost 0, stale 12, ghost 0", Expected: "all 0", Note: "12 stale listed in _result.json"},
		},
		Phases: []Phase{
			{Name: "preflight", Start: at(0), End: at(1)},
			{Name: "inject", Start: at(5), End: at(20)},
			{Name: "drain", Start: at(20)},
			{Name: "collect"},
		},
		FaultWindow: &Window{Start: at(5)},
	}
}

func render(t *testing.T, r Run) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, r); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.String()
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		run        Run
	}{
		{"pass", "report.golden.html", passRun()},
		{"fail", "report-fail.golden.html", failRun()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.run)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendered report; run with -update and review the diff", path)
			}
		})
	}
}

func TestRenderVerdict(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  Run
		want []string
	}{
		{"pass", passRun(), []string{`class="verdict verdict-pass"`, "✔</span> PASS", "3 of 3 passed", "7.25s", "+45.5s"}},
		{"fail", failRun(), []string{`class="verdict verdict-fail"`, "✘</span> FAIL", "1 of 3 passed", "not measured",
			`<td class="ko">✘ fail</td>`, "open at the end", "No plots."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.run)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("report lacks %q", w)
				}
			}
		})
	}
}

// urlRef finds url(...) in CSS with what it points at.
var urlRef = regexp.MustCompile(`(?i)url\(\s*['"]?([^'")\s]*)`)

func TestRenderOffline(t *testing.T) {
	const csp = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`
	for name, r := range map[string]Run{"pass": passRun(), "fail": failRun(), "empty": {}} {
		t.Run(name, func(t *testing.T) {
			got := render(t, r)
			lower := strings.ToLower(got)
			for _, bad := range []string{
				"<script", "http://", "https://", "src=", "href=", "srcset=", "@import",
				"<link", "<iframe", "<object", "<embed", "<img", "<base", "<form", "action=", "http-equiv=\"refresh\"",
				"javascript:", "onload=", "onerror=", "onclick=",
			} {
				if i := strings.Index(lower, bad); i >= 0 {
					t.Errorf("report contains %q at %d: ...%s...", bad, i, got[max(0, i-40):min(len(got), i+40)])
				}
			}
			for _, m := range urlRef.FindAllStringSubmatch(got, -1) {
				if !strings.HasPrefix(strings.ToLower(m[1]), "data:") {
					t.Errorf("report references %q", m[0])
				}
			}
			i, j := strings.Index(got, csp), strings.Index(got, "<style>")
			if i < 0 {
				t.Fatalf("report lacks the CSP meta %s", csp)
			}
			if j < i {
				t.Errorf("CSP meta at %d comes after <style> at %d", i, j)
			}
			if strings.Contains(got, "NaN") || strings.Contains(got, "Inf") {
				t.Errorf("report contains NaN or Inf")
			}
		})
	}
}

func TestRenderEscapes(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	r := passRun()
	r.Checks[0].Name = evil
	r.Checks[1].Query = evil
	r.Why = evil
	r.Phases[0].Name = evil
	r.Plots[0].Title = evil
	r.Plots[0].Series[0].Name = evil
	r.Recipe[0].Value = evil
	r.Versions[evil] = evil
	r.Notes = append(r.Notes, evil)
	got := render(t, r)
	if strings.Contains(strings.ToLower(got), "<script") {
		t.Errorf("report contains an unescaped <script")
	}
	if n := strings.Count(got, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 8 {
		t.Errorf("escaped check name found %d times, want at least 8", n)
	}
}

func TestRenderDeterministic(t *testing.T) {
	a, b := passRun(), passRun()
	// The same versions inserted in another order.
	b.Versions = map[string]string{}
	for _, k := range []string{"postgres", "go", "searchd", "firedrill"} {
		b.Versions[k] = a.Versions[k]
	}
	first := render(t, a)
	for range 20 {
		if got := render(t, b); got != first {
			t.Fatal("two renderings of the same run differ")
		}
	}
	order := []string{">firedrill<", ">go<", ">postgres<", ">searchd<"}
	last := -1
	for _, s := range order {
		i := strings.Index(first, s)
		if i < last {
			t.Errorf("versions not sorted: %s at %d, before %d", s, i, last)
		}
		last = i
	}
	// The zone of the times does not show.
	u := passRun()
	u.StartedAt, u.FinishedAt = u.StartedAt.UTC(), u.FinishedAt.UTC()
	for i := range u.Phases {
		u.Phases[i].Start, u.Phases[i].End = u.Phases[i].Start.UTC(), u.Phases[i].End.UTC()
	}
	if render(t, u) != first {
		t.Error("rendering depends on the time zone of the run's times")
	}
	if !strings.Contains(first, "2025-03-14T09:00:00.000Z") {
		t.Error("start time not shown in UTC")
	}
}

func TestTemplatesPartials(t *testing.T) {
	tmpl, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"page", "style", "summary", "checks", "phases", "plots", "recipe", "versions", "notes"} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tmpl.ExecuteTemplate(&buf, name, passRun()); err != nil {
				t.Fatal(err)
			}
			if buf.Len() == 0 {
				t.Error("empty output")
			}
		})
	}
	// A caller's change to its copy does not leak into Render.
	mine, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mine.New("summary").Parse("replaced"); err != nil {
		t.Fatal(err)
	}
	if got := render(t, passRun()); strings.Contains(got, "replaced") {
		t.Error("Templates returned the shared set, not a copy")
	}
}

func TestSummary(t *testing.T) {
	var buf bytes.Buffer
	if err := Summary(&buf, failRun()); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	if !strings.HasPrefix(got, `<section class="summary">`) || strings.Contains(got, "<html") {
		t.Errorf("Summary is not a fragment: %.60s", got)
	}
	for _, w := range []string{"verdict-fail", "FAIL", "projector-crash", "1 of 3 passed"} {
		if !strings.Contains(got, w) {
			t.Errorf("summary lacks %q", w)
		}
	}
}
