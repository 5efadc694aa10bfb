package metrics_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"firedrill/drill/metrics"
)

// run is a small drill: a baseline scrape, some work, an after scrape.
type run struct {
	dir              string
	baseline, after  time.Time
	faultStart       time.Time
	projector, fault *component
}

// newRun scrapes two components and a dead target. Between the baseline and
// the after scrape: es_4xx +3, es_429 appears at 2, the fault proxy's
// counter +1, a pending gauge series vanishes, 4 latencies are observed.
func newRun(t *testing.T) *run {
	t.Helper()
	ctx := ctxT(t)
	r := &run{dir: filepath.Join(t.TempDir(), "_metrics"), projector: newComponent(t), fault: newComponent(t)}
	r.projector.failed.WithLabelValues("es_4xx").Add(1)
	r.projector.pending.WithLabelValues("0").Set(7)
	r.fault.failed.WithLabelValues("es_4xx").Add(10)
	s := metrics.NewScraper(r.dir, []metrics.Target{
		{Name: "projector-0", URL: r.projector.url},
		{Name: "fault-proxy", URL: r.fault.url},
		{Name: "projector-1", URL: downURL(t)},
	}, time.Hour)
	defer s.Stop()
	_ = s.ScrapeNow(ctx, "baseline") // projector-1 is down on purpose
	r.faultStart = time.Now()
	if err := s.Mark("fault_start", r.faultStart); err != nil {
		t.Fatal(err)
	}
	r.projector.failed.WithLabelValues("es_4xx").Add(3)
	r.projector.failed.WithLabelValues("es_429").Add(2)
	r.projector.pending.DeleteLabelValues("0")
	r.fault.failed.WithLabelValues("es_4xx").Inc()
	for range 4 {
		r.projector.latency.Observe(0.5)
	}
	nextMillisecond(t, r.dir)
	_ = s.ScrapeNow(ctx, "after")
	r.projector.failed.WithLabelValues("es_4xx").Add(100) // after the window
	nextMillisecond(t, r.dir)
	_ = s.ScrapeNow(ctx, "")
	ls := readLines(t, r.dir)
	r.baseline, r.after = ls[0].T, ls[4].T
	return r
}

func TestQuery(t *testing.T) {
	r := newRun(t)
	db := openDB(t, r.dir)
	tests := []struct {
		expr string
		at   time.Time
		want []metrics.Sample
	}{
		{`sum(outbox_failed_total{job="projector-0"})`, r.baseline, []metrics.Sample{{Labels: map[string]string{}, Value: 1}}},
		{`sum(outbox_failed_total)`, r.after, []metrics.Sample{{Labels: map[string]string{}, Value: 1 + 3 + 2 + 11}}},
		{`outbox_failed_total{reason="es_429"}`, r.after, []metrics.Sample{{
			Labels: map[string]string{"__name__": "outbox_failed_total", "job": "projector-0", "reason": "es_429"}, Value: 2,
		}}},
		{`sum by (job) (up)`, r.after, []metrics.Sample{
			{Labels: map[string]string{"job": "fault-proxy"}, Value: 1},
			{Labels: map[string]string{"job": "projector-0"}, Value: 1},
			{Labels: map[string]string{"job": "projector-1"}, Value: 0},
		}},
		{`outbox_pending_events`, r.baseline, []metrics.Sample{{
			Labels: map[string]string{"__name__": "outbox_pending_events", "job": "projector-0", "shard": "0"}, Value: 7,
		}}},
		{`outbox_pending_events`, r.after, []metrics.Sample{}}, // stale once gone
		{`outbox_event_latency_seconds_count{job="projector-0"} - 0`, r.after, []metrics.Sample{{Labels: map[string]string{"job": "projector-0"}, Value: 4}}},
		{`sum(outbox_event_latency_seconds_bucket{le="1.0"})`, r.after, []metrics.Sample{{Labels: map[string]string{}, Value: 4}}},
		{`scalar(sum(outbox_failed_total{reason="es_429"}))`, r.after, []metrics.Sample{{Labels: map[string]string{}, Value: 2}}},
		{`sum(outbox_failed_total)`, r.baseline.Add(-time.Second), []metrics.Sample{}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := db.Query(ctxT(t), tt.expr, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	db := openDB(t, newRun(t).dir)
	tests := []struct{ expr, want string }{
		{`sum(outbox_failed_total`, "parse error"},
		{`outbox_failed_total[1m]`, "range vector"},
		{`"text"`, "string"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := db.Query(ctxT(t), tt.expr, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDelta(t *testing.T) {
	r := newRun(t)
	db := openDB(t, r.dir)
	tests := []struct {
		selector string
		wantV    float64
		wantN    int
	}{
		{`outbox_failed_total{job="projector-0",reason="es_4xx"}`, 3, 1},
		{`outbox_failed_total{reason="es_429"}`, 2, 1}, // appeared after baseline: counted from 0
		{`outbox_failed_total`, 3 + 2 + 1, 3},
		{`{__name__=~"outbox_failed_total", job="fault-proxy"}`, 1, 1},
		{`outbox_never_exported_total`, 0, 0},
		{`up{job="projector-1"}`, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			v, n, err := db.Delta(ctxT(t), tt.selector, r.baseline, r.after)
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.wantV || n != tt.wantN {
				t.Errorf("got (%v, %d), want (%v, %d)", v, n, tt.wantV, tt.wantN)
			}
		})
	}
	if _, _, err := db.Delta(ctxT(t), `sum(outbox_failed_total)`, r.baseline, r.after); err == nil {
		t.Error("Delta of an expression: got nil error, want a parse error")
	}
	if _, _, err := db.Delta(ctxT(t), `outbox_failed_total`, r.after, r.baseline); err == nil {
		t.Error("Delta backwards: got nil error, want one")
	}
}

func TestMarksAndRange(t *testing.T) {
	r := newRun(t)
	db := openDB(t, r.dir)
	marks := db.Marks()
	want := map[string]time.Time{"baseline": r.baseline, "after": r.after, "fault_start": r.faultStart}
	if len(marks) != len(want) {
		t.Errorf("marks: got %v, want %v", marks, want)
	}
	for k, w := range want {
		if !marks[k].Equal(w) {
			t.Errorf("mark %s: got %s, want %s", k, marks[k], w)
		}
	}
	start, end := db.Range()
	if !start.Equal(r.baseline) || !end.After(r.after) {
		t.Errorf("range: got %s – %s, want %s – after %s", start, end, r.baseline, r.after)
	}
}

func TestQueryRange(t *testing.T) {
	r := newRun(t)
	db := openDB(t, r.dir)
	// The TSDB keeps milliseconds: step exactly from one scrape to the next.
	start, end := r.baseline.Truncate(time.Millisecond), r.after.Truncate(time.Millisecond)
	step := max(end.Sub(start), time.Millisecond)
	got, err := db.QueryRange(ctxT(t), `sum(outbox_failed_total{job="projector-0"})`, start, start.Add(step), step)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Points) != 2 {
		t.Fatalf("got %+v, want one series of two points", got)
	}
	if p := got[0].Points; p[0].V != 1 || p[1].V != 6 || !p[0].T.Equal(start) {
		t.Errorf("points: got %+v, want 1 at %s then 6", p, r.baseline)
	}
	if _, err := db.QueryRange(ctxT(t), `up`, r.baseline, r.after, 0); err == nil {
		t.Error("step 0: got nil error, want one")
	}
}

func TestOpenWithoutScrapes(t *testing.T) {
	dir := t.TempDir()
	_, err := metrics.Open(dir)
	if !errors.Is(err, metrics.ErrNoScrapes) || !strings.Contains(err.Error(), "no scrapes in "+dir) {
		t.Errorf("empty dir: got %v, want no scrapes in %s", err, dir)
	}
	s := metrics.NewScraper(dir, nil, time.Hour)
	if err := s.Mark("baseline", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.Open(dir); !errors.Is(err, metrics.ErrNoScrapes) {
		t.Errorf("marks only: got %v, want ErrNoScrapes", err)
	}
}
