package report

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// wellFormed fails t unless svg parses as XML: esc must keep every fragment
// valid whatever the names contain.
func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func noNaN(t *testing.T, svg string) {
	t.Helper()
	for _, bad := range []string{"NaN", "Inf", "-0.0"} {
		if strings.Contains(svg, bad) {
			t.Errorf("SVG contains %q:\n%s", bad, svg)
		}
	}
}

func TestSVGPlotEdgeCases(t *testing.T) {
	span := Window{Start: at(0), End: at(60)}
	fault := &Window{Start: at(10), End: at(30)}
	for _, tc := range []struct {
		name             string
		plot             Plot
		noData           bool
		lines, dots      int
		contains, absent []string
	}{
		{name: "no series", plot: Plot{Title: "Lag"}, noData: true},
		{name: "empty series", plot: Plot{Title: "Lag", Series: []Series{{Name: "a"}}}, noData: true},
		{name: "only unusable points", plot: Plot{Title: "Lag", Series: []Series{{Name: "a", Points: []Point{
			{T: at(1), V: math.NaN()}, {T: at(2), V: math.Inf(1)}, {T: at(3), V: math.Inf(-1)}, {V: 4},
		}}}}, noData: true},
		{name: "NaN among points", plot: Plot{Series: []Series{{Name: "a", Points: []Point{
			{T: at(1), V: 1}, {T: at(2), V: math.NaN()}, {T: at(3), V: 3}, {V: 99},
		}}}}, lines: 1, absent: []string{">99<", ">100<"}},
		{name: "one point", plot: Plot{Series: []Series{{Name: "a", Points: []Point{{T: at(5), V: 7}}}}}, dots: 1},
		{name: "one point without span", plot: Plot{Series: []Series{{Name: "a", Points: []Point{{T: at(5), V: 7}}}}}, dots: 1},
		{name: "all zero", plot: Plot{Series: []Series{ramp("a", func(float64) float64 { return 0 })}}, lines: 1, contains: []string{">0.00<", ">1.00<"}},
		{name: "all equal", plot: Plot{Series: []Series{ramp("a", func(float64) float64 { return 42 })}}, lines: 1, contains: []string{">0<", ">40<"}},
		{name: "all equal negative", plot: Plot{Series: []Series{ramp("a", func(float64) float64 { return -3 })}}, lines: 1, contains: []string{">-3<", ">0<"}},
		{name: "tiny values", plot: Plot{Series: []Series{ramp("a", func(s float64) float64 { return s * 1e-6 })}}, lines: 1, contains: []string{">0.00006<"}},
		{name: "large values", plot: Plot{Series: []Series{ramp("a", func(s float64) float64 { return s * 1e8 })}}, lines: 1, contains: []string{">6G<"}},
		{name: "huge values", plot: Plot{Series: []Series{{Name: "a", Points: []Point{{T: at(1), V: -math.MaxFloat64}, {T: at(2), V: math.MaxFloat64}}}}}, lines: 1},
		{name: "second series empty", plot: Plot{Series: []Series{ramp("a", math.Sqrt), {Name: "b"}}}, lines: 1, contains: []string{"b (no data)"}},
		{name: "points outside the span", plot: Plot{Series: []Series{{Name: "a", Points: []Point{{T: at(-5), V: 1}, {T: at(70), V: 2}}}}}, lines: 1, contains: []string{`points="120.0,`, ">+0s<", ">+50s<"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := span
			if strings.Contains(tc.name, "without span") {
				s = Window{}
			}
			got := string(SVGPlot(tc.plot, s, fault, 600, 200))
			wellFormed(t, got)
			noNaN(t, got)
			if isNoData := strings.Contains(got, "no data</text>"); isNoData != tc.noData {
				t.Errorf("no data box: got %v, want %v", isNoData, tc.noData)
			}
			if n := strings.Count(got, "<polyline"); n != tc.lines {
				t.Errorf("got %d polylines, want %d", n, tc.lines)
			}
			if n := strings.Count(got, "<circle"); n != tc.dots {
				t.Errorf("got %d dots, want %d", n, tc.dots)
			}
			for _, w := range tc.contains {
				if !strings.Contains(got, w) {
					t.Errorf("SVG lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(got, w) {
					t.Errorf("SVG contains %q", w)
				}
			}
			if !tc.noData {
				if n := len(yLabel.FindAllString(got, -1)); n < 3 || n > 5 {
					t.Errorf("got %d y tick labels, want 3 to 5", n)
				}
			}
		})
	}
}

// yLabel matches the y tick labels, which alone are anchored at the end.
var yLabel = regexp.MustCompile(`text-anchor="end" dominant-baseline="middle">`)

func TestSVGPlotSeries(t *testing.T) {
	const evil = `<b>"x" & 'y'</b>` + "\x00\xff"
	var series []Series
	for i := range len(palette) + 1 {
		series = append(series, ramp(strings.Repeat("s", i+1), func(s float64) float64 { return s * float64(i) }))
	}
	series[0].Name = evil
	got := string(SVGPlot(Plot{Title: evil, Unit: "ms", Series: series}, Window{Start: at(0), End: at(60)}, nil, 760, 220))
	wellFormed(t, got)
	if strings.Contains(got, "<b>") {
		t.Error("series name not escaped")
	}
	if strings.Contains(got, `class="fault"`) {
		t.Error("fault shaded without a fault window")
	}
	colours := map[string]bool{}
	for _, m := range regexp.MustCompile(`<polyline[^>]*stroke="([^"]+)"`).FindAllStringSubmatch(got, -1) {
		colours[m[1]] = true
	}
	if len(colours) != len(palette) {
		t.Errorf("got %d distinct stroke colours, want %d", len(colours), len(palette))
	}
	if n := strings.Count(got, "stroke-dasharray"); n != 2 { // the 9th line and its legend swatch
		t.Errorf("got %d dashed strokes, want 2", n)
	}
	if n := strings.Count(got, `<text x="`) - strings.Count(got, `text-anchor`) - 1; n != len(series) {
		t.Errorf("got %d legend entries, want %d", n, len(series))
	}
	for _, w := range []string{">+0s<", ">+60s<", "(ms)"} {
		if !strings.Contains(got, w) {
			t.Errorf("SVG lacks %q", w)
		}
	}
}

func TestSVGPlotFault(t *testing.T) {
	span := Window{Start: at(0), End: at(60)}
	p := Plot{Series: []Series{ramp("a", math.Sqrt)}}
	for _, tc := range []struct {
		name  string
		fault *Window
		want  string // the shaded rectangle, "" for none
	}{
		{"none", nil, ""},
		{"unknown start", &Window{End: at(10)}, ""},
		{"inside", &Window{Start: at(15), End: at(30)}, shade(15, 30)},
		{"open", &Window{Start: at(30)}, shade(30, 60)},
		{"clipped", &Window{Start: at(-30), End: at(6)}, shade(0, 6)},
		{"instant", &Window{Start: at(30), End: at(30)}, shade(30, 30.2)},
		{"after the run", &Window{Start: at(70), End: at(80)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := svgPlotAt(p, span, tc.fault)
			has := strings.Contains(got, `class="fault"`)
			if has != (tc.want != "") {
				t.Fatalf("fault shaded: got %v, want %v", has, tc.want != "")
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("SVG lacks %q:\n%s", tc.want, got)
			}
		})
	}
}

// svgPlotAt draws p with a plot area 600 units wide, 10 units a second
// over span.
func svgPlotAt(p Plot, span Window, fault *Window) string {
	return string(SVGPlot(p, span, fault, 600+chartLeft+chartRight, 200))
}

// shade is the fault rectangle from second a to b of svgPlotAt.
func shade(a, b float64) string {
	return fmt.Sprintf(`x="%s" y="28.0" width="%s"`, num(chartLeft+10*a), num(10*(b-a)))
}

func TestSVGTimeline(t *testing.T) {
	if got := string(SVGTimeline(Run{}, 600)); !strings.Contains(got, "no data") {
		t.Errorf("empty run: want a no data box, got %s", got)
	}
	r := failRun()
	r.Phases[1].Name = `<i>inject & wait</i>`
	got := string(SVGTimeline(r, 600))
	wellFormed(t, got)
	noNaN(t, got)
	// preflight, inject and drain have a start; collect has none.
	if n := strings.Count(got, "<rect x="); n != 3 {
		t.Errorf("got %d bars, want 3", n)
	}
	for _, w := range []string{"&lt;i&gt;inject &amp; wait&lt;/i&gt;", `fill-opacity="0.4"`, "drain: +20s to — (—)", ">collect<", `class="fault"`, ">+60s<"} {
		if !strings.Contains(got, w) {
			t.Errorf("timeline lacks %q:\n%s", w, got)
		}
	}
	// Phases alone give the axis when the run has no start or finish.
	r.StartedAt, r.FinishedAt = time.Time{}, time.Time{}
	if got := string(SVGTimeline(r, 600)); !strings.Contains(got, ">+20s<") || strings.Contains(got, "no data") {
		t.Errorf("timeline without run times:\n%s", got)
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		vmin, vmax float64
		want       string
	}{
		{0, 1, "0.00 0.25 0.50 0.75 1.00"},
		{0, 18, "0 5 10 15 20"},
		{0, 120, "0 50 100 150"},
		{0, 7, "0 2 4 6 8"},
		{3, 3, "0 1 2 3"},
		{0, 0, "0.00 0.25 0.50 0.75 1.00"},
		{-3, -3, "-3 -2 -1 0"},
		{-7, 12, "-10 0 10 20"},
		{0, 0.3, "0.0 0.1 0.2 0.3"},
		{0, 12345, "0k 5k 10k 15k"},
		{0, 2.5e9, "0G 1G 2G 3G"},
		{0.5, 0.5, "0.0 0.2 0.4 0.6"},
		{-1e300, 1e300, "-1e+300 -5e+299 0 5e+299 1e+300"},
	} {
		a := newValueAxis(tc.vmin, tc.vmax, 0, 100)
		var labels []string
		for _, tk := range a.ticks() {
			labels = append(labels, tk.label)
		}
		got := strings.Join(labels, " ")
		if n := len(labels); n < 3 || n > 5 {
			t.Errorf("[%g, %g]: got %d ticks (%s), want 3 to 5", tc.vmin, tc.vmax, n, got)
		}
		if got != tc.want {
			t.Errorf("[%g, %g]: got %q, want %q", tc.vmin, tc.vmax, got, tc.want)
		}
	}
}
