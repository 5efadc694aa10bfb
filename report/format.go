package report

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// dash stands in for a value that is missing.
const dash = "—"

// Offset formats t as seconds since origin, the way every axis of the report
// is labelled: "+12s", "+0.25s", "-3s". It rounds to the millisecond and
// returns "—" for a zero t.
func Offset(origin, t time.Time) string {
	if t.IsZero() {
		return dash
	}
	ms := t.Sub(origin).Round(time.Millisecond).Milliseconds()
	sign := "+"
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return sign + strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64) + "s"
}

// stamp formats t in UTC with milliseconds so that the report does not
// depend on the time zone of the machine that rendered it.
func stamp(t time.Time) string {
	if t.IsZero() {
		return dash
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// duration formats d rounded to the millisecond.
func duration(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}

// between formats the time from a to b, or "—" when either is missing.
func between(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return dash
	}
	return duration(b.Sub(a))
}

// recovery formats a time to recover that may not have been measured.
func recovery(d *time.Duration) string {
	if d == nil {
		return "not measured"
	}
	return duration(*d)
}

// verdictText is the verdict as shown: its canonical spelling when known.
func verdictText(v string) string {
	n := strings.ToUpper(strings.TrimSpace(v))
	switch n {
	case VerdictPass, VerdictFail, VerdictInconclusive:
		return n
	case "":
		return "UNKNOWN"
	}
	return strings.TrimSpace(v)
}

// verdictClass is the CSS class that colours a verdict.
func verdictClass(v string) string {
	switch verdictText(v) {
	case VerdictPass:
		return "verdict-pass"
	case VerdictFail:
		return "verdict-fail"
	case VerdictInconclusive:
		return "verdict-inconclusive"
	}
	return "verdict-unknown"
}

// verdictSymbol is a glyph shown beside the verdict text, so that the
// verdict never depends on colour alone.
func verdictSymbol(v string) string {
	switch verdictText(v) {
	case VerdictPass:
		return "✔"
	case VerdictFail:
		return "✘"
	case VerdictInconclusive:
		return "?"
	}
	return "•"
}

// passed counts the passing checks of r.
func passed(r Run) int {
	n := 0
	for _, c := range r.Checks {
		if c.Pass {
			n++
		}
	}
	return n
}

// orDash returns s, or "—" when s is blank.
func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return dash
	}
	return s
}

// esc makes s safe as SVG text or as a quoted attribute value. Besides
// escaping markup it replaces invalid UTF-8 and the characters XML 1.0
// forbids, so that every SVG fragment is well-formed XML.
func esc(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t', r == '\n', r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= utf8.MaxRune:
			return r
		}
		return '\uFFFD'
	}, s)
	return template.HTMLEscapeString(s)
}

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// num formats an SVG coordinate with one decimal, never as "-0.0".
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = 0
	}
	x = math.Round(x*10) / 10
	if x == 0 {
		x = 0 // turns -0 into 0
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}
