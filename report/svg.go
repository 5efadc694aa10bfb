package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

// palette colours series in order: the Okabe–Ito set, which stays apart for
// the common kinds of colour blindness, with brown in place of its yellow
// (too pale on white). Series past the palette repeat it dashed.
var palette = [...]string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#8c564b"}

// Chart geometry in SVG user units. The timeline and the plots share the
// left and right margins so that, drawn at the same width, their time axes
// line up on the page.
const (
	chartLeft   = 120 // y tick labels, phase names
	chartRight  = 16
	plotTop     = 28 // title
	chartBottom = 24 // x tick labels
	rowHeight   = 20 // one phase of the timeline
	legendRow   = 18
	legendItem  = 190
	legendRunes = 28
	labelRunes  = 18
	minWidth    = 240
	minHeight   = 120
	faultFill   = "#f8d7d7"
	faultText   = "#a33"
	gridStroke  = "#e4e4e4"
	axisStroke  = "#888"
)

// SVGPlot draws p as an inline SVG line chart, width by height units plus
// a legend row per few series. The x axis covers span, widened to take in
// every point (a zero span means the points' own range), and is labelled
// with offsets from span.Start; the y axis runs from min(0, lowest value) to
// the highest value. fault, when not nil, is shaded; a zero fault.End means
// the fault lasted until the end of the axis. Points with a zero time or a
// NaN or infinite value are skipped, and a plot left with no points is drawn
// as a small "no data" box. All text is escaped; the fragment has no xmlns
// and is meant for embedding in an HTML page.
func SVGPlot(p Plot, span Window, fault *Window, width, height int) template.HTML {
	width, height = max(width, minWidth), max(height, minHeight)
	title := strings.TrimSpace(p.Title)
	if u := strings.TrimSpace(p.Unit); u != "" {
		title = strings.TrimSpace(title + " (" + u + ")")
	}
	title = orDash(title)

	lines := make([][]Point, len(p.Series))
	var first, last time.Time
	vmin, vmax := math.Inf(1), math.Inf(-1)
	for i, s := range p.Series {
		lines[i] = clean(s.Points)
		for _, pt := range lines[i] {
			if first.IsZero() || pt.T.Before(first) {
				first = pt.T
			}
			if pt.T.After(last) {
				last = pt.T
			}
			vmin, vmax = math.Min(vmin, pt.V), math.Max(vmax, pt.V)
		}
	}
	if first.IsZero() {
		return noData(title, width)
	}

	right, bottom := float64(width-chartRight), float64(height-chartBottom)
	tx, _ := newTimeAxis(span, first, last, chartLeft, right)
	vy := newValueAxis(vmin, vmax, plotTop, bottom)
	perRow := max(1, (width-chartLeft-chartRight)/legendItem)
	rows := (len(p.Series) + perRow - 1) / perRow
	total := height + rows*legendRow + 2

	var b strings.Builder
	openSVG(&b, "plot", width, total, title)
	fmt.Fprintf(&b, `<text x="%d" y="16" font-weight="bold">%s</text>`, chartLeft, esc(title))
	shadeFault(&b, tx, fault, plotTop, bottom)
	for _, t := range vy.ticks() {
		fmt.Fprintf(&b, `<line x1="%d" x2="%s" y1="%s" y2="%s" stroke="%s"/>`, chartLeft, num(right), num(t.pos), num(t.pos), gridStroke)
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`, chartLeft-6, num(t.pos), esc(t.label))
	}
	timeTicks(&b, tx, plotTop, bottom)
	fmt.Fprintf(&b, `<path d="M%d %sV%sH%s" fill="none" stroke="%s"/>`, chartLeft, num(plotTop), num(bottom), num(right), axisStroke)

	for i, pts := range lines {
		colour, dash := seriesStyle(i)
		switch len(pts) {
		case 0:
			continue
		case 1:
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, num(tx.x(pts[0].T)), num(vy.y(pts[0].V)), colour)
			continue
		}
		xy := make([]string, len(pts))
		for j, pt := range pts {
			xy[j] = num(tx.x(pt.T)) + "," + num(vy.y(pt.V))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"%s/>`, strings.Join(xy, " "), colour, dash)
	}

	for i, s := range p.Series {
		colour, dash := seriesStyle(i)
		x := chartLeft + (i%perRow)*legendItem
		y := height + (i/perRow)*legendRow
		name := truncate(orDash(s.Name), legendRunes)
		if len(lines[i]) == 0 {
			name += " (no data)"
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`, x, x+16, y+8, y+8, colour, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`, x+20, y+8, esc(name))
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// SVGTimeline draws the phases of r as an inline SVG Gantt chart width units
// wide: one bar per phase on the run's time axis (see SVGPlot), the fault
// window shaded behind them. A phase with no end runs to the end of the axis,
// drawn pale; a phase that never started has a label but no bar.
func SVGTimeline(r Run, width int) template.HTML {
	const title = "Phase timeline"
	width = max(width, minWidth)
	var first, last time.Time
	for _, p := range r.Phases {
		for _, t := range []time.Time{p.Start, p.End} {
			if t.IsZero() {
				continue
			}
			if first.IsZero() || t.Before(first) {
				first = t
			}
			if t.After(last) {
				last = t
			}
		}
	}
	right := float64(width - chartRight)
	tx, ok := newTimeAxis(r.Span(), first, last, chartLeft, right)
	if !ok || len(r.Phases) == 0 {
		return noData(title, width)
	}
	const top = 16 // room for the fault label
	bottom := float64(top + len(r.Phases)*rowHeight)
	height := int(bottom) + chartBottom

	var b strings.Builder
	openSVG(&b, "timeline", width, height, title)
	shadeFault(&b, tx, r.FaultWindow, top, bottom)
	timeTicks(&b, tx, top, bottom)
	for i, p := range r.Phases {
		y := top + i*rowHeight
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`, chartLeft-6, y+rowHeight/2, esc(truncate(orDash(p.Name), labelRunes)))
		if p.Start.IsZero() {
			continue
		}
		end, opacity := p.End, ""
		if end.IsZero() {
			end, opacity = tx.to, ` fill-opacity="0.4"`
		}
		x0, x1 := tx.x(p.Start), tx.x(end)
		tip := fmt.Sprintf("%s: %s to %s (%s)", orDash(p.Name), Offset(tx.origin, p.Start), Offset(tx.origin, p.End), between(p.Start, p.End))
		fmt.Fprintf(&b, `<rect x="%s" y="%d" width="%s" height="%d" fill="%s"%s><title>%s</title></rect>`,
			num(x0), y+4, num(math.Max(x1-x0, 2)), rowHeight-8, palette[0], opacity, esc(tip))
	}
	fmt.Fprintf(&b, `<path d="M%d %dV%sH%s" fill="none" stroke="%s"/>`, chartLeft, top, num(bottom), num(right), axisStroke)
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// noData is the chart drawn in place of one with nothing to show.
func noData(title string, width int) template.HTML {
	var b strings.Builder
	openSVG(&b, "plot nodata", width, 40, title)
	fmt.Fprintf(&b, `<rect x="0.5" y="0.5" width="%d" height="39" fill="none" stroke="%s" stroke-dasharray="4 3"/>`, width-1, gridStroke)
	fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" dominant-baseline="middle">%s: no data</text></svg>`, width/2, esc(title))
	return template.HTML(b.String())
}

// openSVG starts a chart whose accessible name is label.
func openSVG(b *strings.Builder, class string, width, height int, label string) {
	fmt.Fprintf(b, `<svg class="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="11"><title>%s</title>`,
		class, width, height, width, height, esc(label), esc(label))
}

// shadeFault shades the part of the fault window that falls on the axis,
// at least 2 units wide so that an instant fault stays visible.
func shadeFault(b *strings.Builder, tx timeAxis, fault *Window, top, bottom float64) {
	if fault == nil || fault.Start.IsZero() {
		return
	}
	start, end := fault.Start, fault.End
	if end.IsZero() {
		end = tx.to
	}
	if end.Before(tx.from) || start.After(tx.to) || end.Before(start) {
		return
	}
	x0 := tx.x(maxTime(start, tx.from))
	x1 := math.Max(tx.x(minTime(end, tx.to)), x0+2)
	fmt.Fprintf(b, `<rect class="fault" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(x0), num(top), num(x1-x0), num(bottom-top), faultFill)
	fmt.Fprintf(b, `<text x="%s" y="%s" fill="%s" font-size="10">fault</text>`, num(x0+3), num(top-3), faultText)
}

// timeTicks draws the x grid and its labels below bottom.
func timeTicks(b *strings.Builder, tx timeAxis, top, bottom float64) {
	for _, t := range tx.ticks() {
		fmt.Fprintf(b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s"/>`, num(t.pos), num(t.pos), num(top), num(bottom), gridStroke)
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, num(t.pos), num(bottom+15), esc(t.label))
	}
}

// seriesStyle is the stroke colour and dash attribute of the i-th series.
func seriesStyle(i int) (colour, dash string) {
	if i >= len(palette) {
		dash = ` stroke-dasharray="5 3"`
	}
	return palette[i%len(palette)], dash
}

// clean returns the drawable points of ps in time order.
func clean(ps []Point) []Point {
	out := make([]Point, 0, len(ps))
	for _, p := range ps {
		if p.T.IsZero() || math.IsNaN(p.V) || math.IsInf(p.V, 0) {
			continue
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b Point) int { return a.T.Compare(b.T) })
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
