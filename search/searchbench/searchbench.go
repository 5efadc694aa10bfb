// Package searchbench measures a search engine the way the projector and the
// drills use it: _bulk ingest with external versions, _search latency, and
// end-to-end projection (outbox → projector → engine) against raw ingest
// into the same engine.
package searchbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"firedrill/load"
	"firedrill/outbox"
	"firedrill/projector"
	"firedrill/search"
)

// words are the titles' vocabulary; searches pick from it.
var words = []string{"outbox", "lease", "replica", "shard", "tombstone", "version", "retry", "backoff"}

// Doc is the n-th benchmark document, shaped like a projected row.
func Doc(prefix string, n int) search.BulkItem {
	id := fmt.Sprintf("%s%07d", prefix, n)
	return search.BulkItem{Op: "index", ID: id, Version: 1, VersionType: "external", Doc: map[string]any{
		"entity_id": id, "entity_type": "bench", "version": 1,
		"title": words[n%len(words)] + " " + words[(n/len(words))%len(words)],
		"body":  "body of " + id, "updated_at": time.Unix(int64(n), 0).UTC().Format(time.RFC3339Nano)}}
}

// Ingest creates index with the projector's mapping and writes docs
// documents in _bulk requests of batch; it returns documents per second.
func Ingest(ctx context.Context, c *search.Client, index string, docs, batch int) (float64, error) {
	if err := c.CreateIndex(ctx, index, []byte(projector.IndexMapping)); err != nil {
		return 0, err
	}
	items := make([]search.BulkItem, 0, batch)
	start := time.Now()
	for i := 0; i < docs; i += batch {
		items = items[:0]
		for j := i; j < min(i+batch, docs); j++ {
			it := Doc("d-", j)
			it.Index = index
			items = append(items, it)
		}
		res, err := c.Bulk(ctx, items, "")
		if err != nil {
			return 0, err
		}
		for _, it := range res.Items {
			if it.Status != 201 {
				return 0, fmt.Errorf("bulk item %s: status %d %s", it.ID, it.Status, it.ErrorType)
			}
		}
	}
	return float64(docs) / time.Since(start).Seconds(), nil
}

// Latencies runs n searches (term, match and bool queries in turn) against
// index after a refresh and returns each one's duration.
func Latencies(ctx context.Context, c *search.Client, index string, n int) ([]time.Duration, error) {
	if err := c.Refresh(ctx, index); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		w := words[i%len(words)]
		var q map[string]any
		switch i % 3 {
		case 0:
			q = map[string]any{"term": map[string]any{"entity_id": fmt.Sprintf("d-%07d", i)}}
		case 1:
			q = map[string]any{"match": map[string]any{"title": w}}
		default:
			q = map[string]any{"bool": map[string]any{
				"must":   []any{map[string]any{"match": map[string]any{"title": w}}},
				"filter": []any{map[string]any{"term": map[string]any{"entity_type": "bench"}}}}}
		}
		start := time.Now()
		if _, err := c.Search(ctx, index, map[string]any{"size": 10, "query": q}); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// Project writes entities creates into s (one event each, not timed), then
// runs one projector with batch-sized claims into index until every event is
// done, and returns events per second.
func Project(ctx context.Context, s outbox.Store, c *search.Client, index string, entities, batch int) (float64, error) {
	changes, _ := load.Plan(load.Profile{Entities: entities, Seed: 1, Prefix: "p-"})
	for i := 0; i < len(changes); i += 1000 {
		if _, err := s.Write(ctx, changes[i:min(i+1000, len(changes))]); err != nil {
			return 0, err
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := projector.New(projector.Config{WorkerID: "bench", BatchSize: batch, Index: index, PollInterval: time.Millisecond},
		s, c, projector.NewMetrics(prometheus.NewRegistry()), log, noop.NewTracerProvider())
	if err != nil {
		return 0, err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(pctx) }()
	for {
		st, err := s.Stats(ctx)
		if err != nil {
			return 0, err
		}
		if st.Counts[outbox.StatusDone] == int64(len(changes)) {
			break
		}
		if n := st.Counts[outbox.StatusFailed]; n > 0 {
			return 0, fmt.Errorf("%d events dead-lettered during the benchmark", n)
		}
		select {
		case err := <-errc:
			return 0, fmt.Errorf("projector stopped: %w", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	rate := float64(len(changes)) / time.Since(start).Seconds()
	cancel()
	if err := <-errc; err != nil {
		return 0, fmt.Errorf("projector stopped: %w", err)
	}
	return rate, nil
}

// Percentile returns the q-th percentile (0..1) of ds, nearest rank.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
