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
	Stats(ctx context.Context) (outbox.Stats, error)
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
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.WorkerID == "" {
		c.WorkerID = "projector"
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	def(&c.Lease, 30*time.Second)
	def(&c.PollInterval, 100*time.Millisecond)
	def(&c.BulkTimeout, 10*time.Second)
	def(&c.ShutdownGrace, 10*time.Second)
	def(&c.StatsInterval, time.Second)
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

// Validate reports the first bad setting, naming it.
func (c Config) Validate() error {
	switch {
	case c.BulkTimeout >= c.Lease:
		return fmt.Errorf("bulk timeout %v must be shorter than the lease %v, or leases expire mid-request", c.BulkTimeout, c.Lease)
	case c.BatchSize > 10000:
		return fmt.Errorf("batch size %d: want at most 10000", c.BatchSize)
	case !strings.Contains(c.Index, "{projection}") && strings.ContainsAny(c.Index, "{}"):
		return fmt.Errorf("index %q: the only placeholder is {projection}", c.Index)
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
	cl, err := p.store.Claim(ctx, owner, p.cfg.BatchSize, p.cfg.Lease)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		reason := outbox.ReasonDBError
		if errors.Is(err, outbox.ErrLocked) {
			reason = outbox.ReasonDBLock
		}
		p.m.ClaimErrors.WithLabelValues(string(reason)).Inc()
		_, span := p.tracer.Start(ctx, "outbox.claim", trace.WithTimestamp(start))
		span.SetAttributes(attrs("worker_id", owner, "result", "error", "reason", string(reason))...)
		span.RecordError(err)
		span.End()
		p.log.WarnContext(ctx, "claim failed", "worker_id", owner, "reason", reason, "error", err.Error())
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
	p.process(ctx, cl, rnd)
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
		st, err := p.store.Stats(sctx)
		cancel()
		if err == nil {
			p.m.Pending.Set(float64(st.Counts[outbox.StatusPending] + st.Counts[outbox.StatusProcessing]))
			p.m.OldestAge.Set(st.OldestPendingAge.Seconds())
		} else if ctx.Err() == nil {
			p.log.DebugContext(ctx, "backlog sample failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
