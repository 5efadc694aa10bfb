package projector

import (
	"github.com/prometheus/client_golang/prometheus"

	"firedrill/outbox"
)

// The done results of outbox_events_done_total.
const (
	ResultIndexed  = "indexed"
	ResultDeleted  = "deleted"
	ResultStale    = "stale"
	ResultNotFound = "not_found"
)

// StatusClasses are the values of projection_bulk_items_total{status_class}.
var StatusClasses = []string{"2xx", "3xx", "4xx", "5xx"}

// Metrics are the projector's Prometheus series, named as DESIGN.md names them.
type Metrics struct {
	Claimed       prometheus.Counter
	Done          *prometheus.CounterVec
	Retry         *prometheus.CounterVec
	Failed        *prometheus.CounterVec
	ClaimErrors   *prometheus.CounterVec
	Reclaimed     prometheus.Counter
	OwnerMismatch prometheus.Counter
	Pending       prometheus.Gauge
	OldestAge     prometheus.Gauge
	Latency       prometheus.Histogram
	BatchDuration prometheus.Histogram
	BulkItems     *prometheus.CounterVec
}

// NewMetrics registers the series on reg, every label value initialised to
// 0 so that increase() sees the very first failure (seed malfunction 4).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Claimed: prometheus.NewCounter(prometheus.CounterOpts{Name: "outbox_events_claimed_total",
			Help: "Events leased by a claim (reclaims included)."}),
		Done: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outbox_events_done_total",
			Help: "Events acknowledged done, by result: indexed, deleted, stale (engine held a newer version), not_found (delete of a missing document)."},
			[]string{"result"}),
		Retry: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outbox_retry_scheduled_total",
			Help: "Events scheduled for another attempt, by reason."}, []string{"reason"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outbox_failed_total",
			Help: "Events dead-lettered (status failed), by reason."}, []string{"reason"}),
		ClaimErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outbox_claim_errors_total",
			Help: "Claims that failed before leasing any event, by reason (db_lock, db_error)."}, []string{"reason"}),
		Reclaimed: prometheus.NewCounter(prometheus.CounterOpts{Name: "outbox_reclaimed_total",
			Help: "Events claimed after another owner's lease expired."}),
		OwnerMismatch: prometheus.NewCounter(prometheus.CounterOpts{Name: "outbox_owner_mismatch_total",
			Help: "Acks refused because the event's lease had been reclaimed by another owner."}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "outbox_pending_events",
			Help: "Events not yet done or failed (status pending or processing), sampled periodically."}),
		OldestAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "outbox_oldest_pending_age_seconds",
			Help: "Age of the oldest pending or processing event, 0 when none, sampled periodically."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "outbox_event_latency_seconds",
			Help:    "Time from an event's creation to its done ack.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}),
		BatchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "projection_batch_duration_seconds",
			Help:    "Time to process one claimed batch: load sources, bulk write, ack.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		BulkItems: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "projection_bulk_items_total",
			Help: "Bulk response items by HTTP status class."}, []string{"status_class"}),
	}
	reg.MustRegister(m.Claimed, m.Done, m.Retry, m.Failed, m.ClaimErrors, m.Reclaimed, m.OwnerMismatch,
		m.Pending, m.OldestAge, m.Latency, m.BatchDuration, m.BulkItems)
	for _, r := range []string{ResultIndexed, ResultDeleted, ResultStale, ResultNotFound} {
		m.Done.WithLabelValues(r)
	}
	for _, r := range outbox.Reasons {
		m.Retry.WithLabelValues(string(r))
		m.Failed.WithLabelValues(string(r))
	}
	for _, r := range []outbox.Reason{outbox.ReasonDBLock, outbox.ReasonDBError} {
		m.ClaimErrors.WithLabelValues(string(r))
	}
	for _, c := range StatusClasses {
		m.BulkItems.WithLabelValues(c)
	}
	return m
}
