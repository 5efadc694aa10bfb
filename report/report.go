package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"sync"
)

// Chart sizes on the page. Plots and the timeline share a width so that
// their time axes line up.
const (
	chartWidth = 760
	plotHeight = 220
)

//go:embed templates/*.tmpl
var files embed.FS

// parsed is the template set, parsed once. It is never executed itself:
// html/template refuses to clone a set that has run, and Templates hands out
// clones.
var parsed = sync.OnceValues(func() (*template.Template, error) {
	return template.New("page").Funcs(template.FuncMap{
		"offset":        Offset,
		"stamp":         stamp,
		"between":       between,
		"recovery":      recovery,
		"verdictText":   verdictText,
		"verdictClass":  verdictClass,
		"verdictSymbol": verdictSymbol,
		"passed":        passed,
		"orDash":        orDash,
		"timeline": func(r Run) template.HTML {
			return SVGTimeline(r, chartWidth)
		},
		"plot": func(r Run, p Plot) template.HTML {
			return SVGPlot(p, r.Span(), r.FaultWindow, chartWidth, plotHeight)
		},
	}).ParseFS(files, "templates/*.tmpl")
})

// Templates returns a fresh copy of the report's template set, which the
// caller may extend or override. "page" is the whole document and "style"
// its stylesheet; "summary", "checks", "phases", "plots", "recipe",
// "versions" and "notes" are its sections. Each is executed with a Run.
func Templates() (*template.Template, error) {
	t, err := parsed()
	if err != nil {
		return nil, fmt.Errorf("parse report templates: %w", err)
	}
	return t.Clone()
}

// Render writes the report.html of r to w. Nothing is written when the
// template fails, so a half page never lands in a bundle.
func Render(w io.Writer, r Run) error {
	return execute(w, "page", r)
}

// Summary writes the summary block of r (verdict, why, identity, timing) as
// an HTML fragment, for a page that lists many runs; style it with the
// "style" template or classes of its own.
func Summary(w io.Writer, r Run) error {
	return execute(w, "summary", r)
}

// execute runs one named template of a fresh set into a buffer, then
// copies it to w.
func execute(w io.Writer, name string, r Run) error {
	t, err := Templates()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, r); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
