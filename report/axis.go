package report

import (
	"math"
	"strconv"
	"time"
)

// tick is one labelled position on an axis.
type tick struct {
	pos   float64
	label string
}

// eps absorbs float error when counting whole steps, so that 0.3/0.1 is
// three steps, not a hair over.
const eps = 1e-9

// tickStep returns the smallest step of the form {1, 2, 2.5, 5}×10^k that
// covers [lo, hi] in at most 4 intervals once both ends are widened to whole
// steps. Because neighbouring steps differ by at most 2.5×, that leaves at
// least 2 intervals: 3 to 5 ticks.
func tickStep(lo, hi float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10((hi-lo)/4)))
	step := mag
	for _, scale := range []float64{1, 10, 100} {
		for _, m := range []float64{1, 2, 2.5, 5} {
			step = m * scale * mag
			if math.Ceil(hi/step-eps)-math.Floor(lo/step+eps) <= 4 {
				return step
			}
		}
	}
	return step
}

// timeAxis maps times onto the x range [left, right] of a chart and labels
// them as offsets from origin.
type timeAxis struct {
	origin, from, to time.Time
	left, right      float64
}

// newTimeAxis builds the axis over span widened to take in lo and hi, with
// origin span.Start (lo when span is zero). It reports false when every time
// is zero; an axis of one instant is widened to a second.
func newTimeAxis(span Window, lo, hi time.Time, left, right float64) (timeAxis, bool) {
	a := timeAxis{origin: span.Start, left: left, right: right}
	for _, t := range [...]time.Time{span.Start, span.End, lo, hi} {
		if t.IsZero() {
			continue
		}
		if a.from.IsZero() || t.Before(a.from) {
			a.from = t
		}
		if t.After(a.to) {
			a.to = t
		}
	}
	if a.from.IsZero() {
		return a, false
	}
	if a.origin.IsZero() {
		a.origin = a.from
	}
	if !a.to.After(a.from) {
		a.to = a.from.Add(time.Second)
	}
	return a, true
}

// x is the horizontal position of t.
func (a timeAxis) x(t time.Time) float64 {
	return a.left + (a.right-a.left)*float64(t.Sub(a.from))/float64(a.to.Sub(a.from))
}

// ticks are round offsets from the origin that fall on the axis.
func (a timeAxis) ticks() []tick {
	lo, hi := a.from.Sub(a.origin).Seconds(), a.to.Sub(a.origin).Seconds()
	step := tickStep(lo, hi)
	var out []tick
	for i := math.Ceil(lo/step - eps); i <= math.Floor(hi/step+eps); i++ {
		t := a.origin.Add(time.Duration(math.Round(i * step * float64(time.Second))))
		out = append(out, tick{pos: a.x(t), label: Offset(a.origin, t)})
	}
	return out
}

// valueAxis maps values onto the y range [top, bottom] of a chart, lo at the
// bottom; lo and hi are whole multiples of step.
type valueAxis struct {
	lo, hi, step float64
	top, bottom  float64
}

// newValueAxis builds an axis from min(0, vmin) to vmax, widened to round
// ticks. An empty range (all values equal) is widened to reach 0, or 1 when
// the values are all 0, so that nothing is divided by zero.
func newValueAxis(vmin, vmax, top, bottom float64) valueAxis {
	// Keep hi-lo finite.
	lo, hi := math.Max(math.Min(0, vmin), -1e300), math.Min(vmax, 1e300)
	if hi <= lo {
		if lo < 0 {
			hi = 0
		} else {
			hi = lo + 1
		}
	}
	step := tickStep(lo, hi)
	return valueAxis{
		lo:     math.Floor(lo/step+eps) * step,
		hi:     math.Ceil(hi/step-eps) * step,
		step:   step,
		top:    top,
		bottom: bottom,
	}
}

// y is the vertical position of v.
func (a valueAxis) y(v float64) float64 {
	return a.bottom - (a.bottom-a.top)*(v-a.lo)/(a.hi-a.lo)
}

// ticks label every step from lo to hi.
func (a valueAxis) ticks() []tick {
	n := int(math.Round((a.hi - a.lo) / a.step))
	scale, suffix := siScale(math.Max(math.Abs(a.lo), math.Abs(a.hi)))
	dec := decimals(a.step / scale)
	out := make([]tick, 0, n+1)
	for i := 0; i <= n; i++ {
		v := a.lo + float64(i)*a.step
		if math.Abs(v) < a.step/2 {
			v = 0 // no "-0"
		}
		label := strconv.FormatFloat(v/scale, 'f', dec, 64) + suffix
		if scale == 0 {
			label = strconv.FormatFloat(v, 'g', 3, 64)
		}
		out = append(out, tick{pos: a.y(v), label: label})
	}
	return out
}

// siScale picks the SI prefix that keeps tick labels of magnitude m short.
// A zero scale means m is too large for a prefix: use exponent notation.
func siScale(m float64) (scale float64, suffix string) {
	switch {
	case m >= 1e15:
		return 0, ""
	case m >= 1e12:
		return 1e12, "T"
	case m >= 1e9:
		return 1e9, "G"
	case m >= 1e6:
		return 1e6, "M"
	case m >= 1e4:
		return 1e3, "k"
	}
	return 1, ""
}

// decimals is how many decimals multiples of step need, at most 12.
func decimals(step float64) int {
	if step == 0 || math.IsInf(step, 0) || math.IsNaN(step) {
		return 0
	}
	for d := range 12 {
		x := step * math.Pow(10, float64(d))
		if math.Abs(x-math.Round(x)) < 1e-6 {
			return d
		}
	}
	return 12
}
