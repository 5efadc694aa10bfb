package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firedrill/outbox"
	"firedrill/search"
	"firedrill/search/searchbench"
	"firedrill/searchd"
)

func newBenchSearchCmd(g *globals) *cobra.Command {
	var osURL string
	var docs, batch, searches, events, runs int
	c := &cobra.Command{
		Use:   "search",
		Short: "Bulk ingest docs/s, _search p50/p99 and end-to-end projection events/s on searchd (and OpenSearch)",
		Long: `bench search measures, side by side in one run, a searchd node it starts
(in-process, on a temporary directory, over loopback HTTP) and, with
--opensearch, a real OpenSearch or Elasticsearch:

  ingest   --docs documents in _bulk requests of --batch (external versions)
  search   --searches term, match and bool queries, one at a time: p50, p99
  project  --events outbox events (a fresh SQLite outbox) drained by one
           projector with claims of --batch, as events/s and as a share of
           the engine's raw ingest rate

Each figure is the median of --runs (latencies pool every run). Every run
works in fresh indexes named firedrill-bench-*, deleted afterwards.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if docs < 1 || batch < 1 || searches < 1 || events < 1 || runs < 1 {
				return usageErr("--docs, --batch, --searches, --events and --runs must be ≥ 1")
			}
			dir, err := os.MkdirTemp("", "firedrill-bench-search-")
			if err != nil {
				return err
			}
			defer func() { _ = os.RemoveAll(dir) }()
			node, err := searchd.Open(searchd.Config{DataDir: filepath.Join(dir, "searchd")})
			if err != nil {
				return err
			}
			defer func() { _ = node.Close() }()
			srv, url, err := serveLoopback(c.Context(), node.Handler())
			if err != nil {
				return err
			}
			defer func() { _ = srv.Close() }()
			targets := []struct{ name, url string }{{"searchd", url}}
			if osURL != "" {
				targets = append(targets, struct{ name, url string }{"opensearch", osURL})
			}
			type row struct {
				ingest, project []float64
				lat             []time.Duration
			}
			rows := make([]row, len(targets))
			for ti, t := range targets {
				cl, err := search.New(search.Config{URL: t.url, Timeout: time.Minute})
				if err != nil {
					return usageErr("--opensearch: %v", err)
				}
				for r := range runs {
					ix := fmt.Sprintf("firedrill-bench-%d-%d", time.Now().UnixNano(), r)
					rate, err := searchbench.Ingest(c.Context(), cl, ix, docs, batch)
					if err == nil {
						var lat []time.Duration
						lat, err = searchbench.Latencies(c.Context(), cl, ix, searches)
						rows[ti].lat = append(rows[ti].lat, lat...)
					}
					_ = cl.DeleteIndex(c.Context(), ix)
					if err != nil {
						return fmt.Errorf("%s: %w", t.name, err)
					}
					rows[ti].ingest = append(rows[ti].ingest, rate)
					s, err := openStore(c.Context(), filepath.Join(dir, fmt.Sprintf("%s-%d.db", t.name, r)), outbox.Options{}, true)
					if err != nil {
						return err
					}
					prate, err := searchbench.Project(c.Context(), s, cl, ix+"-p", events, batch)
					_ = s.Close()
					_ = cl.DeleteIndex(c.Context(), ix+"-p")
					if err != nil {
						return fmt.Errorf("%s project: %w", t.name, err)
					}
					rows[ti].project = append(rows[ti].project, prate)
					fprintf(g.stderr, "  %s run %d/%d: ingest %.0f docs/s, project %.0f events/s\n", t.name, r+1, runs, rate, prate)
				}
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fprintf(tw, "engine\tingest docs/s\tsearch p50\tsearch p99\tproject events/s\tproject/ingest\truns (ingest)\t\n")
			for i, t := range targets {
				r := rows[i]
				fprintf(tw, "%s\t%.0f\t%s\t%s\t%.0f\t%.2f×\t%s\t\n", t.name, median(r.ingest),
					fmtDur(searchbench.Percentile(r.lat, 0.5)), fmtDur(searchbench.Percentile(r.lat, 0.99)),
					median(r.project), median(r.project)/median(r.ingest), fmtRates(r.ingest))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(targets) == 2 {
				a, b := rows[0], rows[1]
				fprintf(g.stdout, "searchd / opensearch: ingest %.2f×, search p50 %.2f×, p99 %.2f×, project %.2f×\n",
					median(a.ingest)/median(b.ingest),
					float64(searchbench.Percentile(a.lat, 0.5))/float64(searchbench.Percentile(b.lat, 0.5)),
					float64(searchbench.Percentile(a.lat, 0.99))/float64(searchbench.Percentile(b.lat, 0.99)),
					median(a.project)/median(b.project))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&osURL, "opensearch", "", "URL of an OpenSearch/Elasticsearch to measure beside searchd")
	f.IntVar(&docs, "docs", 20000, "documents ingested per run")
	f.IntVar(&batch, "batch", 1000, "documents per _bulk (and events per projector claim)")
	f.IntVar(&searches, "searches", 300, "searches per run")
	f.IntVar(&events, "events", 5000, "outbox events projected per run")
	f.IntVar(&runs, "runs", 3, "runs per engine; medians are printed")
	return c
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// serveLoopback serves h on a free loopback port.
func serveLoopback(ctx context.Context, h http.Handler) (*http.Server, string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}
