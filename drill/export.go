package drill

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"firedrill/drill/bundle"
	"firedrill/drill/metrics"
	"firedrill/drill/traces"
	"firedrill/report"
)

// Files export writes.
const (
	JaegerFile     = "traces.jaeger.json"
	ExportNoteFile = "_export_note.txt"
)

// Exported says what Export wrote.
type Exported struct {
	Report  string
	Jaeger  string
	Archive string
	Notes   []string
}

// Export packs a run's evidence: the Jaeger-format trace JSON and an
// archive of the bundle into _exports/, and report.html beside them. What
// could not be exported is written to _exports/_export_note.txt; only a
// bundle that cannot be written at all is an error.
func Export(ctx context.Context, b bundle.Bundle) (Exported, error) {
	out := Exported{}
	dir := b.Path(bundle.ExportsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, err
	}
	var info RunFile
	if err := bundle.ReadJSON(b.Path(RunInfoFile), &info); err != nil {
		out.Notes = append(out.Notes, fmt.Sprintf("%s unreadable (%v): the report has no phases or run facts", RunInfoFile, err))
	}
	out.Notes = append(out.Notes, info.Notes...)
	var res Result
	if err := bundle.ReadJSON(b.Path(bundle.ResultFile), &res); err != nil {
		out.Notes = append(out.Notes, fmt.Sprintf("no verdict: %s unreadable (%v); run 'firedrill verify' first", bundle.ResultFile, err))
	}
	mine, err := readSpans(b, info.RunID)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		out.Notes = append(out.Notes, "no spans were collected for the run: no Jaeger export")
	case err != nil:
		out.Notes = append(out.Notes, fmt.Sprintf("spans unreadable: %v", err))
	default:
		if len(mine) == 0 {
			out.Notes = append(out.Notes, fmt.Sprintf("no span carries firedrill.run_id=%s: the collector received none of the run's spans", info.RunID))
		}
		out.Jaeger = filepath.Join(dir, JaegerFile)
		if err := writeFile(out.Jaeger, func(w io.Writer) error { return traces.WriteJaeger(w, mine) }); err != nil {
			return out, err
		}
	}
	run := reportRun(ctx, b, info, res, &out.Notes)
	out.Report = b.Path(bundle.ReportFile)
	if err := writeFile(out.Report, func(w io.Writer) error { return report.Render(w, run) }); err != nil {
		return out, err
	}
	note := filepath.Join(dir, ExportNoteFile)
	if len(out.Notes) > 0 {
		if err := os.WriteFile(note, []byte(strings.Join(out.Notes, "\n")+"\n"), 0o644); err != nil {
			return out, err
		}
	} else if err := os.Remove(note); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return out, err
	}
	out.Archive = filepath.Join(dir, b.RunID+".tar.gz")
	if err := writeFile(out.Archive, func(w io.Writer) error { return archive(w, b) }); err != nil {
		return out, err
	}
	return out, nil
}

// writeFile writes through a temporary file renamed into place.
func writeFile(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// archive writes the bundle (without _exports/) as a tar.gz whose entries
// sit under the run id, regular files only.
func archive(w io.Writer, b bundle.Bundle) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	root := b.Dir()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && rel == bundle.ExportsDir {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(filepath.Join(b.RunID, rel)), Mode: 0o644, Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		_, err = io.CopyN(tw, f, fi.Size())
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// plotQueries are the report's charts.
var plotQueries = []struct{ title, unit, expr string }{
	{"Retries scheduled by reason", "events", `sum by (reason) (outbox_retry_scheduled_total)`},
	{"Dead letters by reason", "events", `sum by (reason) (outbox_failed_total)`},
	{"Events done", "events", `sum by (result) (outbox_events_done_total)`},
	{"Faults injected", "injections", `sum by (fault) (firedrill_fault_injected_total)`},
	{"Outbox backlog", "events", `sum(outbox_pending_events)`},
}

// reportRun gathers the report's model from the bundle.
func reportRun(ctx context.Context, b bundle.Bundle, info RunFile, res Result, notes *[]string) report.Run {
	run := report.Run{Scenario: b.Scenario, RunID: b.RunID, LabID: b.Lab, Env: info.Env, Verdict: res.Verdict, Why: res.Why,
		Versions: info.Versions, Notes: *notes}
	if st, err := b.ReadState(); err == nil {
		run.StartedAt, run.FinishedAt = st.StartedAt, st.FinishedAt
	}
	if info.Drained {
		d := time.Duration(info.TimeToRecoverS * float64(time.Second))
		run.TimeToRecover = &d
	}
	for _, c := range res.Checks {
		run.Checks = append(run.Checks, report.Check{Name: c.Name, Kind: c.Kind, Query: c.Query, Observed: c.Observed,
			Expected: c.Expected, Pass: c.Pass, Note: c.Note})
	}
	for _, p := range info.Phases {
		run.Phases = append(run.Phases, report.Phase{Name: p.Name, Start: p.StartedAt, End: p.FinishedAt})
	}
	if !info.FaultStart.IsZero() {
		run.FaultWindow = &report.Window{Start: info.FaultStart, End: info.FaultEnd}
	}
	var rec map[string]struct{ Value, Source string }
	if err := bundle.ReadJSON(b.Path(bundle.RecipeFile), &rec); err == nil {
		for _, k := range []string{"FAULT_SCENARIO", "FAULT_RATE", "FAULT_EVERY_N", "FAULT_DURATION_S", "FAULT_MATCH", "FAULT_SEED"} {
			if e, ok := rec[k]; ok {
				run.Recipe = append(run.Recipe, report.RecipeEntry{Name: k, Value: e.Value, Source: e.Source})
			}
		}
	}
	db, err := metrics.Open(b.Path(bundle.MetricsDir))
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("no metric plots: %v", err))
		run.Notes = *notes
		return run
	}
	defer func() { _ = db.Close() }()
	start, end := db.Range()
	step := max(end.Sub(start)/200, 250*time.Millisecond)
	for _, q := range plotQueries {
		series, err := db.QueryRange(ctx, q.expr, start, end, step)
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("plot %q: %v", q.title, err))
			continue
		}
		p := report.Plot{Title: q.title, Unit: q.unit}
		for _, s := range series {
			rs := report.Series{Name: seriesName(s.Labels)}
			for _, pt := range s.Points {
				rs.Points = append(rs.Points, report.Point{T: pt.T, V: pt.V})
			}
			p.Series = append(p.Series, rs)
		}
		run.Plots = append(run.Plots, p)
	}
	run.Notes = *notes
	return run
}

func seriesName(l map[string]string) string {
	if len(l) == 0 {
		return "total"
	}
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
