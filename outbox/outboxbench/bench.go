// Package outboxbench measures claim+ack throughput of an outbox.Store with
// the projector's own claim and ack calls and no engine in between, so the
// figure is the store's ceiling.
package outboxbench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"firedrill/outbox"
)

// Result is one measured run.
type Result struct {
	Events   int
	Duration time.Duration
}

// PerSecond is the throughput of r.
func (r Result) PerSecond() float64 { return float64(r.Events) / r.Duration.Seconds() }

// Fill writes n events (not timed) in transactions of 1000.
func Fill(ctx context.Context, s outbox.Store, prefix string, n int) error {
	for i := 0; i < n; i += 1000 {
		changes := make([]outbox.Change, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			changes = append(changes, outbox.Change{EntityID: fmt.Sprintf("%s%d", prefix, j), EntityType: "bench", Op: outbox.OpUpsert})
		}
		if _, err := s.Write(ctx, changes); err != nil {
			return err
		}
	}
	return nil
}

// ClaimAck drains every claimable event with `loops` concurrent claim loops
// of `batch` events, acking each batch done, and times it.
func ClaimAck(ctx context.Context, s outbox.Store, n, batch, loops int) (Result, error) {
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for l := range loops {
		wg.Go(func() {
			owner := fmt.Sprintf("bench-%d", l)
			outcomes := make([]outbox.Outcome, 0, batch)
			for done.Load() < int64(n) && ctx.Err() == nil {
				cl, err := s.Claim(ctx, owner, batch, time.Minute)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				if len(cl.Events) == 0 {
					if done.Load() >= int64(n) {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				outcomes = outcomes[:0]
				for _, ev := range cl.Events {
					outcomes = append(outcomes, outbox.Outcome{EventID: ev.ID, Kind: outbox.OutcomeDone})
				}
				res, err := s.Ack(ctx, cl, outcomes)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				done.Add(int64(res.Applied))
			}
		})
	}
	wg.Wait()
	r := Result{Events: int(done.Load()), Duration: time.Since(start)}
	if firstErr != nil {
		return r, firstErr
	}
	if r.Events != n {
		return r, fmt.Errorf("acked %d events, want %d", r.Events, n)
	}
	return r, ctx.Err()
}
