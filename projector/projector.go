// Package projector is the outbox worker: it claims a batch of events under
// a lease, loads their source rows, writes them with one _bulk request using
// external versioning, classifies every item, and acks, retries or fails
// each event on its own item's result.
package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"firedrill/outbox"
	"firedrill/search"
)

// Store is what the projector needs of the outbox.
type Store interface {
	Claim(ctx context.Context, owner string, limit int, lease time.Duration) (outbox.Claim, error)
	Sources(ctx context.Context, entityIDs []string) (map[string]outbox.Document, error)
	Ack(ctx context.Context, c outbox.Claim, outcomes []outbox.Outcome) (outbox.AckResult, error)
	Backlog(ctx context.Context) (int64, time.Duration, error)
}

// Indexer is what the projector needs of the search engine.
type Indexer interface {
	EnsureIndex(ctx context.Context, index string, body []byte) error
	Bulk(ctx context.Context, items []search.BulkItem, refresh string) (search.BulkResult, error)
}

// Config tunes a projector. Zero values take the defaults of WithDefaults.
type Config struct {
	// WorkerID names this process; each claim loop owns leases as WorkerID-N.
	WorkerID string
	// Workers is the number of claim loops in this process.
	Workers int
	// BatchSize is the most events one claim leases.
	BatchSize int
	// Lease is how long a claim owns its events; BulkTimeout must be shorter.
	Lease time.Duration
	// PollInterval is the wait after a claim that found nothing.
	PollInterval time.Duration
	// BulkTimeout bounds one _bulk request.
	BulkTimeout time.Duration
	// Index is the target index; "{projection}" is replaced by the event's projection.
	Index string
	// Refresh is the _bulk refresh parameter ("", "true", "wait_for").
	Refresh string
	// ShutdownGrace is how long a batch in flight may finish after shutdown
	// begins; past it the batch is released for another worker.
	ShutdownGrace time.Duration
	// StatsInterval is how often the backlog gauges are sampled.
	StatsInterval time.Duration
	// ClaimTimeout bounds one claim (a database that stops answering
	// counts as a claim error instead of hanging the loop).
	ClaimTimeout time.Duration
	// ClaimBackoff paces claims after a claim error (a locked table).
	ClaimBackoff Backoff
	Policy       Policy
	// Seed seeds the jitter; 0 picks a random seed.
	Seed uint64
	// SetReady, when set, is told "" when claims succeed, or why not.
	SetReady func(notReady string) `yaml:"-"`
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	// Only zero takes a default: a negative value is left for Validate to refuse.
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.WorkerID == "" {
		c.WorkerID = "projector"
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	def(&c.Lease, 30*time.Second)
	def(&c.PollInterval, 100*time.Millisecond)
	def(&c.BulkTimeout, 10*time.Second)
	def(&c.ShutdownGrace, 10*time.Second)
	def(&c.StatsInterval, time.Second)
	def(&c.ClaimTimeout, 10*time.Second)
	if c.ClaimBackoff.Initial <= 0 {
		c.ClaimBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
	}
	if c.Index == "" {
		c.Index = "firedrill-{projection}"
	}
	if c.Policy.Classes == nil {
		c.Policy = DefaultPolicy()
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	return c
}

// checkSigns refuses negative settings (WithDefaults replaces only zeros).
func (c Config) checkSigns() error {
	for name, v := range map[string]int64{"workers": int64(c.Workers), "batch size": int64(c.BatchSize),
		"lease": int64(c.Lease), "poll interval": int64(c.PollInterval), "bulk timeout": int64(c.BulkTimeout),
		"shutdown grace": int64(c.ShutdownGrace), "stats interval": int64(c.StatsInterval), "claim timeout": int64(c.ClaimTimeout)} {
		if v < 0 {
			return fmt.Errorf("%s: got a negative value, want ≥ 0 (0 takes the default)", name)
		}
	}
	return nil
}

var indexName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Validate reports the first bad setting, naming it.
func (c Config) Validate() error {
	if err := c.checkSigns(); err != nil {
		return err
	}
	switch {
	case c.BulkTimeout >= c.Lease:
		return fmt.Errorf("bulk timeout %v must be shorter than the lease %v, or leases expire mid-request", c.BulkTimeout, c.Lease)
	case c.BatchSize > 10000:
		return fmt.Errorf("batch size %d: want at most 10000", c.BatchSize)
	case !indexName.MatchString(strings.ReplaceAll(c.Index, "{projection}", "p")):
		return fmt.Errorf("index %q: want a lowercase index name (letters, digits, '.', '_', '-'); the only placeholder is {projection}", c.Index)
	case c.Refresh != "" && c.Refresh != "true" && c.Refresh != "false" && c.Refresh != "wait_for":
		return fmt.Errorf("refresh %q: want empty, true, false or wait_for", c.Refresh)
	}
	return c.Policy.Validate()
}

// Projector runs claim loops against one store and one engine.
type Projector struct {
	cfg    Config
	store  Store
	idx    Indexer
	m      *Metrics
	log    *slog.Logger
	tracer trace.Tracer

	mu      sync.Mutex
	ensured map[string]bool
}

// New checks cfg and returns a projector.
func New(cfg Config, store Store, idx Indexer, m *Metrics, log *slog.Logger, tp trace.TracerProvider) (*Projector, error) {
	if err := cfg.checkSigns(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Projector{cfg: cfg, store: store, idx: idx, m: m, log: log,
		tracer: tp.Tracer("firedrill/projector"), ensured: map[string]bool{}}, nil
}

// Run runs the claim loops and the backlog sampler until ctx ends, then
// lets batches in flight finish (or releases them) and returns.
func (p *Projector) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range p.cfg.Workers {
		owner := fmt.Sprintf("%s-%d", p.cfg.WorkerID, i)
		rnd := rand.New(rand.NewPCG(p.cfg.Seed, uint64(i)))
		wg.Go(func() { p.loop(ctx, owner, rnd) })
	}
	wg.Go(func() { p.sampleBacklog(ctx) })
	stop := context.AfterFunc(ctx, func() { p.setReady("shutting down") })
	defer stop()
	wg.Wait()
	return nil
}

func (p *Projector) loop(ctx context.Context, owner string, rnd *rand.Rand) {
	failures := 0
	for ctx.Err() == nil {
		n, err := p.Step(ctx, owner, rnd)
		switch {
		case err != nil:
			failures++
			wait(ctx, p.cfg.ClaimBackoff.Delay(failures, rnd))
		case n == 0:
			failures = 0
			wait(ctx, p.cfg.PollInterval)
		default:
			failures = 0
		}
	}
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Step claims one batch as owner and processes it. It returns how many
// events it claimed, or the claim error (already counted and logged).
func (p *Projector) Step(ctx context.Context, owner string, rnd *rand.Rand) (int, error) {
	start := time.Now()
	// A claim is never cut short by shutdown (a cancelled claim may still
	// commit on the server, stranding its rows for a lease), only by its
	// own timeout.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ClaimTimeout)
	cl, err := p.store.Claim(cctx, owner, p.cfg.BatchSize, p.cfg.Lease)
	cancel()
	if err != nil {
		reason := outbox.ReasonDBError
		if errors.Is(err, outbox.ErrLocked) {
			reason = outbox.ReasonDBLock
		}
		p.m.ClaimErrors.WithLabelValues(string(reason)).Inc()
		sctx, span := p.tracer.Start(ctx, "outbox.claim", trace.WithTimestamp(start))
		span.SetAttributes(attrs("worker_id", owner, "result", "error", "reason", string(reason))...)
		span.RecordError(err)
		p.log.WarnContext(sctx, "claim failed", "worker_id", owner, "reason", reason, "error", err.Error())
		span.End()
		p.setReady("claims failing: " + string(reason))
		return 0, err
	}
	p.setReady("")
	if len(cl.Events) == 0 {
		return 0, nil
	}
	p.m.Claimed.Add(float64(len(cl.Events)))
	p.m.Reclaimed.Add(float64(cl.Reclaimed))
	cctx, span := p.tracer.Start(ctx, "outbox.claim", trace.WithTimestamp(start))
	span.SetAttributes(attrs("worker_id", owner, "claim_batch_id", cl.BatchID)...)
	span.SetAttributes(intAttr("batch_size", len(cl.Events)), intAttr("reclaimed", cl.Reclaimed))
	ids := make([]string, len(cl.Events))
	for i, ev := range cl.Events {
		ids[i] = ev.ID
	}
	p.log.InfoContext(cctx, "claim", "worker_id", owner, "claim_batch_id", cl.BatchID,
		"lease_until", cl.LeaseUntil.UTC().Format(time.RFC3339Nano), "event_ids", ids,
		"batch_size", len(ids), "reclaimed", cl.Reclaimed)
	span.End()
	// The batch span is a child of the claim span: one trace per batch.
	p.process(trace.ContextWithSpanContext(ctx, span.SpanContext()), cl, start, rnd)
	return len(cl.Events), nil
}

func (p *Projector) setReady(why string) {
	if p.cfg.SetReady != nil {
		p.cfg.SetReady(why)
	}
}

// sampleBacklog keeps outbox_pending_events and the oldest-age gauge fresh,
// off the scrape path so a locked database never slows a scrape.
func (p *Projector) sampleBacklog(ctx context.Context) {
	t := time.NewTicker(p.cfg.StatsInterval)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, p.cfg.StatsInterval*5)
		n, age, err := p.store.Backlog(sctx)
		cancel()
		if err == nil {
			p.m.Pending.Set(float64(n))
			p.m.OldestAge.Set(age.Seconds())
		} else if ctx.Err() == nil {
			p.log.WarnContext(ctx, "backlog sample failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
