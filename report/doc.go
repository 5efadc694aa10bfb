// Package report renders a drill run as a self-contained HTML page: the
// report.html of an evidence bundle.
//
// The page must open from a CI artifact with no network, so it carries its
// stylesheet inline, draws every chart as inline SVG, and loads nothing: no
// scripts, no fonts, no images, and a Content-Security-Policy that forbids
// them should anything slip in. Output is deterministic for a given Run
// (times in UTC, fixed float formatting, sorted maps), so golden tests and
// diffs of two reports stay meaningful.
//
// Render draws the whole page. The pieces are exported for a dashboard that
// shows many runs: Templates returns the parsed template set ("page" and
// its "style", and the partials "summary", "checks", "phases", "plots",
// "recipe", "versions", "notes", each executed with a Run), Summary renders
// one run's summary block, and SVGPlot and SVGTimeline draw the charts
// (SVGPlot with a zero span draws a plot over its own points).
package report
