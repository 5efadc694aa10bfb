package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"firedrill/outbox"
	"firedrill/projector"
	"firedrill/search"
	"firedrill/store"
	"firedrill/telemetry"
)

type projectorFlags struct {
	dsn         string
	lockTimeout time.Duration
	migrate     bool
	search      search.Config
	cfg         projector.Config
	policyFile  string
	metricsAddr string
	addrFile    string
	otlp        string
	runID       string
}

func newProjectorCmd(g *globals) *cobra.Command {
	var pf projectorFlags
	c := &cobra.Command{
		Use:   "projector",
		Short: "Run the outbox worker: claim → load sources → one _bulk per batch → ack/retry/fail",
		Long: `projector claims batches of outbox events under a lease, loads their source rows,
writes them with one _bulk request using external versioning, and acks,
retries or dead-letters each event on its own item's result.

SIGTERM or Ctrl-C stops claiming; a batch in flight finishes within
--shutdown-grace or is released for another worker. After SIGKILL its
events return when their lease expires. Any number of projectors may share
one database.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runProjector(c.Context(), g, pf) },
	}
	f := c.Flags()
	dbFlag(f, &pf.dsn)
	f.DurationVar(&pf.lockTimeout, "lock-timeout", 2*time.Second, "how long a claim waits for a table lock before counting db_lock and backing off")
	f.BoolVar(&pf.migrate, "migrate", true, "apply the outbox schema at start")
	f.StringVar(&pf.search.URL, "search-url", envOr("FIREDRILL_SEARCH_URL", "http://127.0.0.1:9200"), "Elasticsearch/OpenSearch URL (env FIREDRILL_SEARCH_URL)")
	f.StringVar(&pf.search.Username, "search-username", os.Getenv("FIREDRILL_SEARCH_USERNAME"), "basic auth user (env FIREDRILL_SEARCH_USERNAME)")
	f.StringVar(&pf.search.CAFile, "search-ca-file", os.Getenv("FIREDRILL_SEARCH_CA_FILE"), "PEM CA bundle for https (env FIREDRILL_SEARCH_CA_FILE)")
	f.BoolVar(&pf.search.InsecureSkipVerify, "search-insecure", false, "skip TLS verification (tests only)")
	f.DurationVar(&pf.search.Timeout, "search-timeout", 30*time.Second, "timeout of non-bulk engine requests")
	f.StringVar(&pf.cfg.WorkerID, "worker-id", envOr("FIREDRILL_WORKER_ID", defaultWorkerID()), "owner name for leases; loops append -N (env FIREDRILL_WORKER_ID)")
	f.IntVar(&pf.cfg.Workers, "workers", 1, "claim loops in this process")
	f.IntVar(&pf.cfg.BatchSize, "batch-size", 100, "events per claim (and per _bulk)")
	f.DurationVar(&pf.cfg.Lease, "lease", 30*time.Second, "lease of a claimed batch")
	f.DurationVar(&pf.cfg.PollInterval, "poll-interval", 100*time.Millisecond, "wait after an empty claim")
	f.DurationVar(&pf.cfg.BulkTimeout, "bulk-timeout", 10*time.Second, "timeout of one _bulk request (shorter than --lease)")
	f.StringVar(&pf.cfg.Index, "index", envOr("FIREDRILL_INDEX", "firedrill-{projection}"), "target index; {projection} is the event's projection (env FIREDRILL_INDEX)")
	f.StringVar(&pf.cfg.Refresh, "refresh", "", "_bulk refresh parameter: empty, true, false or wait_for")
	f.DurationVar(&pf.cfg.ShutdownGrace, "shutdown-grace", 10*time.Second, "time a batch in flight may finish after SIGTERM")
	f.DurationVar(&pf.cfg.StatsInterval, "stats-interval", time.Second, "how often the backlog gauges are sampled")
	f.Uint64Var(&pf.cfg.Seed, "seed", 0, "seed of the retry jitter (0: random)")
	f.StringVar(&pf.policyFile, "policy", "", "YAML file overriding the classification table (see docs/projector.md)")
	f.StringVar(&pf.metricsAddr, "metrics-addr", envOr("FIREDRILL_METRICS_ADDR", "127.0.0.1:9109"), "listen address of /metrics, /healthz, /readyz; port 0 picks a free one (env FIREDRILL_METRICS_ADDR)")
	f.StringVar(&pf.addrFile, "addr-file", "", "write the bound metrics address to this file")
	f.StringVar(&pf.otlp, "otlp-endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTLP/HTTP collector base URL; empty: no export (env OTEL_EXPORTER_OTLP_ENDPOINT)")
	f.StringVar(&pf.runID, "run-id", os.Getenv(telemetry.RunIDEnv), "drill run id, the firedrill.run_id span attribute (env FIREDRILL_RUN_ID)")
	return c
}

func defaultWorkerID() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "projector"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

func runProjector(ctx context.Context, g *globals, pf projectorFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	// Everything that can be refused is checked before the database is
	// touched: bad input never writes.
	if pf.cfg.Policy, err = loadPolicy(pf.policyFile); err != nil {
		return err
	}
	pf.search.Password = os.Getenv("FIREDRILL_SEARCH_PASSWORD")
	pf.search.APIKey = os.Getenv("FIREDRILL_SEARCH_API_KEY")
	client, err := search.New(pf.search)
	if err != nil {
		return usageErr("search engine: %v", err)
	}
	cfg := pf.cfg
	if err := cfg.WithDefaults().Validate(); err != nil {
		return usageErr("projector: %v", err)
	}
	if _, _, err := store.Parse(pf.dsn); err != nil {
		return setupErr("--db", err)
	}
	tr, err := telemetry.StartTracing(ctx, telemetry.TraceConfig{Endpoint: pf.otlp, Service: "firedrill-projector", RunID: pf.runID})
	if err != nil {
		return usageErr("--otlp-endpoint: %v", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = tr.Shutdown(sctx)
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := projector.NewMetrics(reg)
	srv, err := telemetry.Listen(pf.metricsAddr, pf.addrFile, reg)
	if err != nil {
		return usageErr("%v", err)
	}
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(srvCtx) }()
	defer func() {
		stopSrv()
		if err := <-srvDone; err != nil {
			log.Warn("metrics server", "error", err)
		}
	}()

	s, err := openStore(ctx, pf.dsn, outbox.Options{LockTimeout: pf.lockTimeout}, pf.migrate)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg.SetReady = srv.SetReady
	p, err := projector.New(cfg, s, client, metrics, log, tr.Provider)
	if err != nil {
		return usageErr("projector: %v", err)
	}
	if info, err := pingEngine(ctx, client); err != nil {
		log.WarnContext(ctx, "search engine not reachable yet; events will retry", "search", pf.search.String(), "error", err.Error())
	} else {
		log.InfoContext(ctx, "search engine", "search", pf.search.String(), "distribution", info.Distribution, "version", info.VersionNumber)
	}
	log.InfoContext(ctx, "projector started", "worker_id", cfg.WorkerID, "workers", cfg.Workers, "batch_size", cfg.BatchSize,
		"lease", cfg.Lease.String(), "db", store.Redact(pf.dsn), "metrics_addr", srv.Addr(), "index", cfg.Index,
		"otlp_endpoint", telemetry.RedactURL(pf.otlp), "run_id", pf.runID)
	err = p.Run(ctx)
	log.InfoContext(ctx, "projector stopped", "worker_id", cfg.WorkerID)
	return err
}

func pingEngine(ctx context.Context, c *search.Client) (search.Info, error) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Info(pctx)
}
