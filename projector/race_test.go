package projector_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"firedrill/outbox"
	"firedrill/outbox/outboxtest"
	"firedrill/projector"
	"firedrill/projector/projectortest"
)

// holdTracker wraps a store and fails the test if an event is ever handed
// to a second owner while the first one still holds it.
type holdTracker struct {
	projector.Store
	t       *testing.T
	mu      sync.Mutex
	holder  map[string]string
	claims  map[string]int
	applied map[string]int
}

func (h *holdTracker) Claim(ctx context.Context, owner string, limit int, lease time.Duration) (outbox.Claim, error) {
	cl, err := h.Store.Claim(ctx, owner, limit, lease)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range cl.Events {
		if prev := h.holder[ev.ID]; prev != "" {
			h.t.Errorf("event %s claimed by %s while %s held it", ev.ID, owner, prev)
		}
		h.holder[ev.ID] = owner
		h.claims[ev.ID]++
	}
	return cl, err
}

func (h *holdTracker) Ack(ctx context.Context, c outbox.Claim, outcomes []outbox.Outcome) (outbox.AckResult, error) {
	res, err := h.Store.Ack(ctx, c, outcomes)
	h.mu.Lock()
	defer h.mu.Unlock()
	refused := map[string]bool{}
	for _, id := range res.Refused {
		refused[id] = true
	}
	for _, o := range outcomes {
		if err == nil && !refused[o.EventID] {
			delete(h.holder, o.EventID)
			h.applied[o.EventID]++
		}
	}
	return res, err
}

// TestRacingClaimLoops runs 4 claim/ack loops of one projector on 10,000
// events: each is claimed once, acked done once, never held by two owners.
func TestRacingClaimLoops(t *testing.T) {
	const n = 10000
	for _, a := range outboxtest.Adapters(t) {
		t.Run(a.Name, func(t *testing.T) {
			store := a.OpenFresh(t)
			written := outboxtest.WriteN(t, store, "race", n)
			h := &holdTracker{Store: store, t: t, holder: map[string]string{}, claims: map[string]int{}, applied: map[string]int{}}
			engine := projectortest.New()
			p, m := newProjector(t, projector.Config{Workers: 4, BatchSize: 100, PollInterval: 5 * time.Millisecond}, h, engine, nil)
			ctx, cancel := context.WithCancel(ctxFor(t))
			errc := make(chan error, 1)
			go func() { errc <- p.Run(ctx) }()
			waitFor(t, 2*time.Minute, func() bool {
				return testutil.ToFloat64(m.Done.WithLabelValues(projector.ResultIndexed)) >= n
			})
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			st, err := store.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Counts[outbox.StatusDone] != n || len(st.Counts) != 1 {
				t.Fatalf("statuses: got %v, want all %d done", st.Counts, n)
			}
			for _, w := range written {
				if h.claims[w.EventID] != 1 || h.applied[w.EventID] != 1 {
					t.Fatalf("event %s: claimed %d, acked %d times; want 1 and 1", w.EventID, h.claims[w.EventID], h.applied[w.EventID])
				}
			}
			if got := len(engine.Writes()); got != n {
				t.Fatalf("engine writes: got %d, want %d", got, n)
			}
			if len(h.holder) != 0 {
				t.Fatalf("%d events still held after every ack", len(h.holder))
			}
			if got := testutil.ToFloat64(m.Claimed); got != n {
				t.Fatalf("outbox_events_claimed_total: got %v, want %d", got, n)
			}
			if got := testutil.ToFloat64(m.OwnerMismatch); got != 0 {
				t.Fatalf("outbox_owner_mismatch_total: got %v, want 0", got)
			}
		})
	}
}

// TestExpiredLeaseAckIsRefusedAndCounted: owner A's batch stalls past its
// lease, owner B reclaims and finishes it, and A's late ack is refused and
// counted as an owner mismatch.
func TestExpiredLeaseAckIsRefusedAndCounted(t *testing.T) {
	for _, a := range outboxtest.Adapters(t) {
		t.Run(a.Name, func(t *testing.T) {
			store := a.OpenFresh(t)
			outboxtest.WriteN(t, store, "lease", 5)
			stalled, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			slow := &stallFirstSources{Store: store, stalled: stalled, release: release, once: &once}
			engine := projectortest.New()
			logs := &syncBuffer{}
			cfg := projector.Config{BatchSize: 10, Lease: 300 * time.Millisecond, BulkTimeout: 200 * time.Millisecond}
			p, m := newProjector(t, cfg, slow, engine, logs)
			rnd := rand.New(rand.NewPCG(1, 1))
			ctx := ctxFor(t)
			aDone := make(chan int, 1)
			go func() {
				n, _ := p.Step(ctx, "A", rnd)
				aDone <- n
			}()
			<-stalled
			var reclaimed int
			waitFor(t, 10*time.Second, func() bool {
				n, err := p.Step(ctx, "B", rand.New(rand.NewPCG(2, 2)))
				if err != nil {
					t.Fatal(err)
				}
				reclaimed += n
				return reclaimed > 0
			})
			close(release)
			if n := <-aDone; n != 5 || reclaimed != 5 {
				t.Fatalf("A claimed %d, B reclaimed %d; want 5 and 5", n, reclaimed)
			}
			if got := testutil.ToFloat64(m.Reclaimed); got != 5 {
				t.Errorf("outbox_reclaimed_total: got %v, want 5", got)
			}
			if got := testutil.ToFloat64(m.OwnerMismatch); got != 5 {
				t.Errorf("outbox_owner_mismatch_total: got %v, want 5", got)
			}
			if got := testutil.ToFloat64(m.Done.WithLabelValues(projector.ResultIndexed)); got != 5 {
				t.Errorf("done{indexed}: got %v, want 5 (B's acks only)", got)
			}
			refused := 0
			for _, line := range strings.Split(logs.String(), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "ack" && rec["result"] == "refused" {
					refused++
					if rec["worker_id"] != "A" || rec["reason"] != "lease_lost" {
						t.Errorf("refused ack line: got worker %v reason %v, want A lease_lost", rec["worker_id"], rec["reason"])
					}
				}
			}
			if refused != 5 {
				t.Errorf("refused ack log lines: got %d, want 5", refused)
			}
			st, _ := store.Stats(context.Background())
			if st.Counts[outbox.StatusDone] != 5 {
				t.Errorf("statuses: got %v, want 5 done", st.Counts)
			}
		})
	}
}

// stallFirstSources blocks the first source load until released.
type stallFirstSources struct {
	projector.Store
	stalled, release chan struct{}
	once             *sync.Once
}

func (s *stallFirstSources) Sources(ctx context.Context, ids []string) (map[string]outbox.Document, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.stalled)
		<-s.release
	}
	return s.Store.Sources(ctx, ids)
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
