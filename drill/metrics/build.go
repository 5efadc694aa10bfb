package metrics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// ErrNoScrapes is returned by Open when the directory holds no scrape.
var ErrNoScrapes = errors.New("no scrapes")

// fallbackContentType is how a body is parsed when the target sent no usable
// Content-Type: the classic text format it was asked for.
const fallbackContentType = "text/plain"

// readRecords reads path. A last line cut short (the run was killed while
// writing it) is dropped; any other line that does not decode is an error.
func readRecords(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []record
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var r record
			if jerr := json.Unmarshal(trimmed, &r); jerr != nil {
				if !complete {
					break
				}
				return nil, fmt.Errorf("%s line %d: %w", path, n, jerr)
			}
			recs = append(recs, r)
		}
		if err != nil {
			break
		}
	}
	return recs, nil
}

// sortRecords orders records by millisecond (the TSDB's resolution), marked
// records before unmarked ones within a millisecond, then by file order.
func sortRecords(recs []record) {
	sort.SliceStable(recs, func(i, j int) bool {
		ti, tj := timestamp.FromTime(recs[i].T), timestamp.FromTime(recs[j].T)
		if ti != tj {
			return ti < tj
		}
		return recs[i].Mark != "" && recs[j].Mark == ""
	})
}

// builder appends sorted scrape records to a TSDB the way a Prometheus
// server would have ingested the scrapes.
type builder struct {
	db   *tsdb.DB
	last map[string]int64                    // series key → newest appended timestamp
	prev map[string]map[string]labels.Labels // job → series of its previous good scrape, by key
}

func newBuilder(db *tsdb.DB) *builder {
	return &builder{db: db, last: map[string]int64{}, prev: map[string]map[string]labels.Labels{}}
}

// add appends one scrape: its samples, up, and staleness markers for what
// disappeared since the target's previous scrape.
func (b *builder) add(ctx context.Context, r record) error {
	t := timestamp.FromTime(r.T)
	app := b.db.Appender(ctx)
	cur, perr := parseBody(r)
	up := 1.0
	if r.Error != "" || perr != nil {
		up, cur = 0, nil
	}
	seen := make(map[string]labels.Labels, len(cur))
	for _, s := range cur {
		k := s.ls.String()
		if _, dup := seen[k]; dup {
			continue // a target exposing a series twice: keep the first, as Prometheus does
		}
		seen[k] = s.ls
		if err := b.append(app, k, s.ls, t, s.v); err != nil {
			_ = app.Rollback()
			return err
		}
	}
	for k, ls := range b.prev[r.Target] {
		if _, ok := seen[k]; !ok {
			if err := b.append(app, k, ls, t, math.Float64frombits(value.StaleNaN)); err != nil {
				_ = app.Rollback()
				return err
			}
		}
	}
	b.prev[r.Target] = seen
	upLs := labels.FromStrings(model.MetricNameLabel, "up", "job", r.Target)
	if err := b.append(app, upLs.String(), upLs, t, up); err != nil {
		_ = app.Rollback()
		return err
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("commit scrape of %s at %s: %w", r.Target, r.T, err)
	}
	return nil
}

// append adds one sample unless the series already has one at or after t
// (two scrapes within a millisecond: the first one wins).
func (b *builder) append(app storage.Appender, key string, ls labels.Labels, t int64, v float64) error {
	if last, ok := b.last[key]; ok && t <= last {
		return nil
	}
	if _, err := app.Append(0, ls, t, v); err != nil {
		return fmt.Errorf("append %s at %d: %w", key, t, err)
	}
	b.last[key] = t
	return nil
}

type parsedSample struct {
	ls labels.Labels
	v  float64
}

// parseBody parses a successful scrape's body into float samples labelled
// with job. Native histograms (not in the text format) are skipped.
func parseBody(r record) ([]parsedSample, error) {
	if r.Error != "" {
		return nil, nil
	}
	p, err := textparse.New([]byte(r.Body), r.ContentType, nil, textparse.ParserOptions{FallbackContentType: fallbackContentType})
	if p == nil {
		return nil, fmt.Errorf("parse %s scrape: %w", r.Target, err)
	}
	var out []parsedSample
	var ls labels.Labels
	lb := labels.NewBuilder(labels.EmptyLabels())
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s scrape: %w", r.Target, err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		p.Labels(&ls)
		lb.Reset(ls)
		if job := ls.Get("job"); job != "" {
			lb.Set("exported_job", job)
		}
		lb.Set("job", r.Target)
		out = append(out, parsedSample{ls: lb.Labels(), v: v})
	}
}
