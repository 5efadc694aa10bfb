// Package fault is firedrill's fault layer: the FAULT_* recipe, the
// catalog of fault kinds, deterministic selection (every Nth or a seeded
// rate), the allow-list for destructive targets, and the journal that lets
// a fault left by a crashed process be found and reverted at the next start.
// The injectors live in subpackages named after what they act on:
// httpproxy (an Elasticsearch-aware HTTP fault proxy), tcp (Toxiproxy),
// process (signals), dblock (outbox table locks) and writeblock
// (index.blocks.write).
package fault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind names what an injector does.
type Kind string

// The fault kinds.
const (
	// HTTP fault proxy, per request.
	KindHTTP429     Kind = "http_429"     // answer 429 with an Elasticsearch error body and Retry-After
	KindHTTP5xx     Kind = "http_5xx"     // answer a 5xx with an Elasticsearch error body
	KindHTTPLatency Kind = "http_latency" // delay the request before forwarding it
	KindHTTPReset   Kind = "http_reset"   // reset the connection instead of answering
	KindHTTPRefuse  Kind = "http_refuse"  // stop listening: new connections are refused
	KindAckLost     Kind = "ack_lost"     // forward, let the write apply, then lose the answer
	// HTTP fault proxy, per bulk item.
	KindBulkItem429   Kind = "bulk_item_429"   // chosen items answered 429, not written
	KindBulkItem400   Kind = "bulk_item_400"   // chosen items answered 400 mapper_parsing_exception, not written
	KindBulkItemMixed Kind = "bulk_item_mixed" // chosen items alternate 429 and 400, not written
	// TCP faults through Toxiproxy.
	KindTCPDown      Kind = "tcp_down"
	KindTCPLatency   Kind = "tcp_latency"
	KindTCPResetPeer Kind = "tcp_reset_peer"
	KindTCPTimeout   Kind = "tcp_timeout"
	// Process faults on a child the harness started.
	KindProcessKill Kind = "process_kill" // SIGKILL
	KindProcessStop Kind = "process_stop" // SIGSTOP for the window, then SIGCONT
	// Database and engine admin faults.
	KindDBLock     Kind = "db_lock"     // lock the outbox table for the window
	KindWriteBlock Kind = "write_block" // index.blocks.write=true for the window
)

// Kinds lists every kind, for messages naming the allowed values.
var Kinds = []Kind{KindHTTP429, KindHTTP5xx, KindHTTPLatency, KindHTTPReset, KindHTTPRefuse, KindAckLost,
	KindBulkItem429, KindBulkItem400, KindBulkItemMixed, KindTCPDown, KindTCPLatency, KindTCPResetPeer,
	KindTCPTimeout, KindProcessKill, KindProcessStop, KindDBLock, KindWriteBlock}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// PerItem reports whether k selects bulk items rather than requests.
func (k Kind) PerItem() bool {
	return k == KindBulkItem429 || k == KindBulkItem400 || k == KindBulkItemMixed
}

// Revert undoes a fault. It must be idempotent and must work after the
// context the fault was applied under has ended (give it a fresh one).
type Revert func(ctx context.Context) error

// Injector applies one fault. Apply returns once the fault is in force; the
// Revert it returns undoes it. An injector whose fault is instantaneous
// (SIGKILL) returns a no-op Revert.
type Injector interface {
	Apply(ctx context.Context) (Revert, error)
}

// RevertTimeout bounds a revert that runs after its owner's context ended.
const RevertTimeout = 15 * time.Second

// Hold applies inj, keeps the fault for d or until ctx ends, then reverts
// it — always, also when ctx was cancelled (Ctrl-C) — with a fresh context.
// It returns the apply error, or the revert error.
func Hold(ctx context.Context, inj Injector, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: duration must be > 0, got %v", ErrInvalid, d)
	}
	revert, err := inj.Apply(ctx)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RevertTimeout)
	defer cancel()
	if err := revert(rctx); err != nil {
		return fmt.Errorf("revert: %w", err)
	}
	return nil
}

// ErrInvalid marks bad input (a bad recipe, an unknown kind): exit code 3.
var ErrInvalid = errors.New("invalid fault")

// ErrTargetRefused marks a destructive fault aimed at a target that is not
// loopback, not the harness's own, and not in FIREDRILL_ALLOW_TARGETS.
var ErrTargetRefused = errors.New("fault target refused")

// Metrics counts injections as firedrill_fault_injected_total{fault}.
type Metrics struct {
	injected *prometheus.CounterVec
}

// NewMetrics registers the counter on reg with every kind's series at 0, so
// increase() sees the first injection.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{injected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "firedrill_fault_injected_total",
		Help: "Faults injected, by fault kind: requests, bulk items, connections or actions.",
	}, []string{"fault"})}
	for _, k := range Kinds {
		m.injected.WithLabelValues(string(k))
	}
	reg.MustRegister(m.injected)
	return m
}

// Inc counts n injections of kind k. A nil *Metrics counts nothing.
func (m *Metrics) Inc(k Kind, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.injected.WithLabelValues(string(k)).Add(float64(n))
}
