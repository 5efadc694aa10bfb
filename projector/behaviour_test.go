package projector_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"firedrill/outbox"
	"firedrill/outbox/outboxtest"
	"firedrill/outbox/sqlite"
	"firedrill/projector"
	"firedrill/projector/projectortest"
	"firedrill/search"
)

var _ projector.Indexer = (*search.Client)(nil)

func TestEnsureIndexOncePerIndexAndStopsAtFailure(t *testing.T) {
	store := outboxtest.SQLite().OpenFresh(t)
	outboxtest.WriteN(t, store, "ens", 20)
	engine := projectortest.New()
	engine.EnsureErr = errors.New("engine unreachable")
	p, _ := newProjector(t, projector.Config{BatchSize: 20}, store, engine, nil)
	if _, err := p.Step(context.Background(), "w", rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	if got := engine.EnsureCalls(); got != 1 {
		t.Fatalf("EnsureIndex calls for 20 items of one index after a failure: got %d, want 1", got)
	}
	engine.EnsureErr = nil
	outboxtest.WriteN(t, store, "ens2", 20)
	for range 3 {
		if _, err := p.Step(context.Background(), "w", rand.New(rand.NewPCG(1, 1))); err != nil {
			t.Fatal(err)
		}
	}
	if got := engine.EnsureCalls(); got != 2 {
		t.Fatalf("EnsureIndex calls once the index exists: got %d, want 2 (one failed, one created)", got)
	}
}

// TestPoisonEventDeadLetters: an event whose leases keep expiring without an
// ack (a worker crashing on it) fails with lease_lost past max_attempts.
func TestPoisonEventDeadLetters(t *testing.T) {
	store := outboxtest.SQLite().OpenFresh(t)
	outboxtest.WriteN(t, store, "poison", 1)
	ctx := context.Background()
	// Two crashed attempts: claimed, never acked, lease expired.
	for range 2 {
		cl, err := store.Claim(ctx, "crashed", 1, time.Millisecond)
		if err != nil || len(cl.Events) != 1 {
			waitFor(t, 5*time.Second, func() bool {
				cl, err = store.Claim(ctx, "crashed", 1, time.Millisecond)
				return err == nil && len(cl.Events) == 1
			})
		}
		time.Sleep(5 * time.Millisecond)
	}
	policy := projector.DefaultPolicy().Merge(projector.Policy{MaxAttempts: 2})
	engine := projectortest.New()
	p, m := newProjector(t, projector.Config{Policy: policy}, store, engine, nil)
	if n, err := p.Step(ctx, "w", rand.New(rand.NewPCG(1, 1))); err != nil || n != 1 {
		t.Fatalf("step: %d, %v", n, err)
	}
	failed, _ := store.Failed(ctx, outbox.FailedFilter{Reason: outbox.ReasonLeaseLost})
	if len(failed) != 1 || len(engine.Writes()) != 0 {
		t.Fatalf("poison event: %d dead letters lease_lost, %d writes; want 1 and 0", len(failed), len(engine.Writes()))
	}
	if got := testutil.ToFloat64(m.Failed.WithLabelValues("lease_lost")); got != 1 {
		t.Fatalf("failed{lease_lost}: got %v, want 1", got)
	}
}

// TestRefusedRequestRetriesAndHonoursRetryAfter: a whole-bulk 401 retries
// (es_4xx) rather than dead-lettering the batch; a 429's Retry-After is a
// floor for the backoff.
func TestRefusedRequestRetriesAndHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		reason     outbox.Reason
		minDelay   time.Duration
	}{
		{http.StatusUnauthorized, "", outbox.ReasonES4xx, 0},
		{http.StatusTooManyRequests, "30", outbox.ReasonES429, 29 * time.Second},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/_bulk" {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"refused"},"status":%d}`, tc.status)
			}
		}))
		store := outboxtest.SQLite().OpenFresh(t)
		outboxtest.WriteN(t, store, "rq", 3)
		client, err := search.New(search.Config{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		p, m := newProjector(t, projector.Config{}, store, client, nil)
		before := time.Now()
		if _, err := p.Step(context.Background(), "w", rand.New(rand.NewPCG(1, 1))); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if got := testutil.ToFloat64(m.Retry.WithLabelValues(string(tc.reason))); got != 3 {
			t.Errorf("status %d: retry{%s}: got %v, want 3", tc.status, tc.reason, got)
		}
		if got := testutil.ToFloat64(m.Failed.WithLabelValues(string(tc.reason))); got != 0 {
			t.Errorf("status %d: failed{%s}: got %v, want 0", tc.status, tc.reason, got)
		}
		var next int64
		if err := store.(*sqlite.Store).DB().QueryRow(`SELECT min(next_attempt_at) FROM search_outbox_events`).Scan(&next); err != nil {
			t.Fatal(err)
		}
		if wait := time.UnixMicro(next).Sub(before); wait < tc.minDelay {
			t.Errorf("status %d: next attempt in %v, want at least %v (Retry-After %q)", tc.status, wait, tc.minDelay, tc.retryAfter)
		}
	}
}
