package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firedrill/fault/faultbench"
	"firedrill/fault/httpproxy"
	"firedrill/fault/tcp"
	"firedrill/search"
	"firedrill/searchd"
)

func newBenchProxyCmd(g *globals) *cobra.Command {
	var upstream string
	var gets, bulks, bulkSize, conc, runs int
	c := &cobra.Command{
		Use:   "proxy",
		Short: "Requests/s and added latency of the fault proxy (no fault active) vs direct access and Toxiproxy",
		Long: `bench proxy sends the same traffic to a search engine three ways, in
interleaved rounds of one run: directly, through firedrill's HTTP fault
proxy with no fault active, and through an embedded Toxiproxy v2.5.0 proxy
with no toxic. Traffic: --gets realtime GETs of small documents and --bulks
_bulk requests of --bulk-size documents, each from --conc connections.
The engine is a searchd node started in-process, or --upstream.
Printed: median requests/s of --runs, p50 and p99 over all runs, and each
path's ratio and added latency against direct access.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if gets < 1 || bulks < 1 || bulkSize < 1 || conc < 1 || runs < 1 {
				return usageErr("--gets, --bulks, --bulk-size, --conc and --runs must be ≥ 1")
			}
			return runBenchProxy(c.Context(), g, upstream, gets, bulks, bulkSize, conc, runs)
		},
	}
	f := c.Flags()
	f.StringVar(&upstream, "upstream", "", "engine URL (default: a searchd node in-process)")
	f.IntVar(&gets, "gets", 20000, "GET requests per path per run")
	f.IntVar(&bulks, "bulks", 400, "_bulk requests per path per run")
	f.IntVar(&bulkSize, "bulk-size", 100, "documents per _bulk")
	f.IntVar(&conc, "conc", 8, "concurrent connections")
	f.IntVar(&runs, "runs", 3, "rounds; medians are printed")
	return c
}

type benchPath struct{ name, url string }

func runBenchProxy(ctx context.Context, g *globals, upstream string, gets, bulks, bulkSize, conc, runs int) error {
	dir, err := os.MkdirTemp("", "firedrill-bench-proxy-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if upstream == "" {
		node, err := searchd.Open(searchd.Config{DataDir: filepath.Join(dir, "searchd")})
		if err != nil {
			return err
		}
		defer func() { _ = node.Close() }()
		srv, u, err := serveLoopback(ctx, node.Handler())
		if err != nil {
			return err
		}
		defer func() { _ = srv.Close() }()
		upstream = u
	}
	p, err := httpproxy.New(httpproxy.Config{Upstream: upstream})
	if err != nil {
		return usageErr("--upstream: %v", err)
	}
	if err := p.Listen(ctx, "127.0.0.1:0"); err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	tsrv, err := tcp.StartServer(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer func() { _ = tsrv.Close() }()
	taddr, err := tcp.EnsureProxy(ctx, tsrv.URL(), "bench", "127.0.0.1:0", strings.TrimPrefix(strings.TrimPrefix(upstream, "http://"), "https://"))
	if err != nil {
		return err
	}
	paths := []benchPath{{"direct", upstream}, {"fault proxy", p.URL()}, {"toxiproxy", "http://" + taddr}}

	// Documents for the GETs, written once.
	sc, err := search.New(search.Config{URL: upstream, Timeout: time.Minute})
	if err != nil {
		return err
	}
	getIndex := fmt.Sprintf("firedrill-bench-proxy-%d", time.Now().UnixNano())
	if err := sc.CreateIndex(ctx, getIndex, nil); err != nil {
		return err
	}
	defer func() { _ = sc.DeleteIndex(context.WithoutCancel(ctx), getIndex) }()
	const docs = 1000
	items := make([]search.BulkItem, docs)
	for i := range items {
		items[i] = search.BulkItem{Op: "index", Index: getIndex, ID: fmt.Sprintf("d-%d", i), Doc: map[string]any{"title": "doc", "n": i}}
	}
	if _, err := sc.Bulk(ctx, items, "true"); err != nil {
		return err
	}

	type cell struct {
		rates []float64
		lat   []time.Duration
	}
	traffic := []string{"get", "bulk"}
	res := map[string]map[string]*cell{}
	for _, tr := range traffic {
		res[tr] = map[string]*cell{}
		for _, pth := range paths {
			res[tr][pth.name] = &cell{}
		}
	}
	for r := range runs {
		for _, tr := range traffic {
			for _, pth := range paths {
				hc := faultbench.Client(conc)
				var out faultbench.Result
				if tr == "get" {
					out, err = faultbench.Drive(ctx, hc, pth.url, faultbench.GetDoc(getIndex, docs), gets, conc)
				} else {
					bix := fmt.Sprintf("%s-bulk-%d-%d", getIndex, r, len(res[tr][pth.name].rates))
					bix = strings.ReplaceAll(bix+"-"+strings.ReplaceAll(pth.name, " ", ""), " ", "")
					out, err = faultbench.Drive(ctx, hc, pth.url, faultbench.Bulk(bix, bulkSize), bulks, conc)
					_ = sc.DeleteIndex(context.WithoutCancel(ctx), bix)
				}
				hc.CloseIdleConnections()
				if err != nil {
					return fmt.Errorf("%s via %s: %w", tr, pth.name, err)
				}
				c := res[tr][pth.name]
				c.rates = append(c.rates, out.PerSecond())
				c.lat = append(c.lat, out.Latencies...)
				fprintf(g.stderr, "  run %d/%d %s via %s: %.0f req/s\n", r+1, runs, tr, pth.name, out.PerSecond())
			}
		}
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fprintf(tw, "traffic\tpath\treq/s\tvs direct\tp50\tp99\tadded p50\tadded p99\truns req/s\t\n")
	for _, tr := range traffic {
		d := res[tr]["direct"]
		d50, d99 := faultbench.Percentile(d.lat, 0.5), faultbench.Percentile(d.lat, 0.99)
		for _, pth := range paths {
			c := res[tr][pth.name]
			p50, p99 := faultbench.Percentile(c.lat, 0.5), faultbench.Percentile(c.lat, 0.99)
			fprintf(tw, "%s\t%s\t%.0f\t%.2f×\t%s\t%s\t%s\t%s\t%s\t\n", tr, pth.name, median(c.rates), median(c.rates)/median(d.rates),
				fmtMicros(p50), fmtMicros(p99), fmtSignedMicros(p50-d50), fmtSignedMicros(p99-d99), fmtRates(c.rates))
		}
	}
	return tw.Flush()
}

func fmtMicros(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }

func fmtSignedMicros(d time.Duration) string { return fmt.Sprintf("%+dµs", d.Microseconds()) }
