package metrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// TSDBDir is the directory, inside the metrics directory, that Open rebuilds.
const TSDBDir = "tsdb"

// LookbackDelta is how far back an instant selector looks for a sample; it
// spans many scrape intervals, as in Prometheus.
const LookbackDelta = 5 * time.Minute

// DB is the TSDB built from a run's raw scrapes, queried with Prometheus's
// engine. Its methods are safe for concurrent use.
type DB struct {
	tsdb       *tsdb.DB
	engine     *promql.Engine
	marks      map[string]time.Time
	start, end time.Time
}

// Sample is one series of an instant query's result; a scalar result has no
// labels.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Series is one series of a range query's result.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Point is one value of a Series.
type Point struct {
	T time.Time
	V float64
}

// Open deletes dir/tsdb, rebuilds it from dir/scrapes.ndjson and opens it
// for querying. It reads nothing else, so it works on any old bundle. A
// directory without any scrape is an error wrapping ErrNoScrapes.
func Open(dir string) (*DB, error) {
	recs, err := readRecords(filepath.Join(dir, ScrapesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoScrapes, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open metrics: %w", err)
	}
	sortRecords(recs)
	db := &DB{marks: map[string]time.Time{}}
	var scrapes []record
	for _, r := range recs {
		if _, ok := db.marks[r.Mark]; r.Mark != "" && !ok {
			db.marks[r.Mark] = r.T
		}
		if r.Target == "" {
			continue
		}
		if len(scrapes) == 0 {
			db.start = r.T
		}
		db.end = r.T
		scrapes = append(scrapes, r)
	}
	if len(scrapes) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoScrapes, dir)
	}

	tdir := filepath.Join(dir, TSDBDir)
	if err := os.RemoveAll(tdir); err != nil {
		return nil, fmt.Errorf("open metrics: remove old tsdb: %w", err)
	}
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0 // an old bundle is kept whole
	if db.tsdb, err = tsdb.Open(tdir, nil, nil, opts, nil); err != nil {
		return nil, fmt.Errorf("open metrics: %w", err)
	}
	// The build is offline and ordered; background compaction would only
	// make the directory's layout depend on timing.
	db.tsdb.DisableCompactions()
	b := newBuilder(db.tsdb)
	for _, r := range scrapes {
		if err := b.add(context.Background(), r); err != nil {
			_ = db.tsdb.Close()
			return nil, fmt.Errorf("open metrics: %w", err)
		}
	}
	db.engine = promql.NewEngine(promql.EngineOpts{
		MaxSamples:           50_000_000,
		Timeout:              2 * time.Minute,
		LookbackDelta:        LookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
	return db, nil
}

// Close closes the TSDB; the files stay for inspection.
func (db *DB) Close() error {
	if err := db.tsdb.Close(); err != nil {
		return fmt.Errorf("close metrics: %w", err)
	}
	return nil
}

// Marks returns every mark's time: its first occurrence, which for a
// ScrapeNow mark is the time its samples carry.
func (db *DB) Marks() map[string]time.Time {
	return maps.Clone(db.marks)
}

// Range returns the times of the first and the last scrape, failed or not.
func (db *DB) Range() (start, end time.Time) {
	return db.start, db.end
}

// Query evaluates the instant PromQL query expr at t. A vector result gives
// one Sample per series, sorted by labels; a scalar one Sample without
// labels. Range vectors and strings are errors.
func (db *DB) Query(ctx context.Context, expr string, t time.Time) ([]Sample, error) {
	q, err := db.engine.NewInstantQuery(ctx, db.tsdb, nil, expr, t)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, res.Err)
	}
	switch v := res.Value.(type) {
	case promql.Scalar:
		return []Sample{{Labels: map[string]string{}, Value: v.V}}, nil
	case promql.Vector:
		sort.Slice(v, func(i, j int) bool { return labels.Compare(v[i].Metric, v[j].Metric) < 0 })
		out := make([]Sample, 0, len(v))
		for _, s := range v {
			if s.H != nil {
				return nil, fmt.Errorf("query %q: native histogram results are not supported", expr)
			}
			out = append(out, Sample{Labels: s.Metric.Map(), Value: s.F})
		}
		return out, nil
	case promql.Matrix:
		return nil, fmt.Errorf("query %q: result is a range vector, want an instant vector or a scalar (use QueryRange, or a function over the range)", expr)
	default:
		return nil, fmt.Errorf("query %q: result is a %s, want an instant vector or a scalar", expr, res.Value.Type())
	}
}

// QueryRange evaluates expr from start to end every step, as for a graph.
// Series are sorted by labels.
func (db *DB) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("query range %q: step %s, want > 0", expr, step)
	}
	q, err := db.engine.NewRangeQuery(ctx, db.tsdb, nil, expr, start, end, step)
	if err != nil {
		return nil, fmt.Errorf("query range %q: %w", expr, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("query range %q: %w", expr, res.Err)
	}
	m, err := res.Matrix()
	if err != nil {
		return nil, fmt.Errorf("query range %q: %w", expr, err)
	}
	sort.Slice(m, func(i, j int) bool { return labels.Compare(m[i].Metric, m[j].Metric) < 0 })
	out := make([]Series, 0, len(m))
	for _, s := range m {
		ps := make([]Point, 0, len(s.Floats))
		for _, p := range s.Floats {
			ps = append(ps, Point{T: timestamp.Time(p.T), V: p.F})
		}
		out = append(out, Series{Labels: s.Metric.Map(), Points: ps})
	}
	return out, nil
}

// Delta returns the change of the counters matched by selector (a series
// selector such as outbox_failed_total{reason="es_4xx"}) from `from` to
// `to`, summed over series, and how many series had a sample at or before
// `to`. Per series the change is its last value at or before `to` minus its
// last value at or before `from` (0 when the series had no sample by then),
// read from the stored samples, not through the lookback window. A value
// that decreases (a process restarted and its counter reset) is treated as
// increase() does: the value after the reset is all new, so a restart never
// makes the change negative. A selector that matches nothing returns
// (0, 0, nil): what an absent metric means is the caller's call.
func (db *DB) Delta(ctx context.Context, selector string, from, to time.Time) (float64, int, error) {
	if to.Before(from) {
		return 0, 0, fmt.Errorf("delta %s: to %s is before from %s", selector, to, from)
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(selector)
	if err != nil {
		return 0, 0, fmt.Errorf("delta %s: %w", selector, err)
	}
	q, err := db.tsdb.Querier(math.MinInt64, timestamp.FromTime(to))
	if err != nil {
		return 0, 0, fmt.Errorf("delta %s: %w", selector, err)
	}
	defer q.Close()
	fromMs := timestamp.FromTime(from)
	set := q.Select(ctx, false, nil, ms...)
	var (
		sum float64
		n   int
		it  chunkenc.Iterator
	)
	for set.Next() {
		it = set.At().Iterator(it)
		seen, change, prev := false, 0.0, 0.0
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue
			}
			t, v := it.At()
			switch {
			case value.IsStaleNaN(v):
				continue
			case t <= fromMs:
				// The baseline: the last value at or before from.
			case !seen:
				change += v // appeared after from: counted from 0
			case v < prev:
				change += v // reset
			default:
				change += v - prev
			}
			seen, prev = true, v
		}
		if err := it.Err(); err != nil {
			return 0, 0, fmt.Errorf("delta %s: %w", selector, err)
		}
		if seen {
			sum += change
			n++
		}
	}
	if err := set.Err(); err != nil {
		return 0, 0, fmt.Errorf("delta %s: %w", selector, err)
	}
	return sum, n, nil
}
