package projector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"firedrill/outbox"
	"firedrill/search"
)

// IndexMapping is the mapping of a projection index.
const IndexMapping = `{"mappings":{"properties":{
 "entity_id":{"type":"keyword"},"entity_type":{"type":"keyword"},
 "title":{"type":"text"},"body":{"type":"text"},
 "version":{"type":"long"},"updated_at":{"type":"date"}}}}`

// verdict is what became of one event, before and after its ack.
type verdict struct {
	ev      outbox.Event
	class   Class
	op      string // bulk op sent: index or delete; "" when nothing was sent
	item    int    // position of its item in the _bulk request
	status  int    // item or request HTTP status, 0 when none
	errText string
	outcome outbox.Outcome
	result  string // done result label
}

// process writes one claimed batch and acks every event on its own result.
func (p *Projector) process(ctx context.Context, cl outbox.Claim, rnd *rand.Rand) {
	start := time.Now()
	// The batch outlives a shutdown request by at most ShutdownGrace.
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.ShutdownGrace, cancel)
		context.AfterFunc(work, func() { t.Stop() })
	})
	defer stop()

	bctx, span := p.tracer.Start(work, "projection.process_batch")
	span.SetAttributes(attrs("worker_id", cl.Owner, "claim_batch_id", cl.BatchID)...)
	span.SetAttributes(intAttr("batch_size", len(cl.Events)))
	vs := p.write(bctx, cl, rnd)
	if work.Err() != nil {
		// Shutdown grace ran out mid-batch: hand every event back untouched.
		for i := range vs {
			vs[i].outcome = outbox.Outcome{EventID: vs[i].ev.ID, Kind: outbox.OutcomeRelease}
		}
	}
	p.ack(context.WithoutCancel(bctx), cl, vs)
	worst, reason := "ok", ""
	for _, v := range vs {
		switch {
		case v.outcome.Kind == outbox.OutcomeFail:
			worst, reason = "failed", string(v.outcome.Reason)
		case v.outcome.Kind == outbox.OutcomeRetry && worst == "ok":
			worst, reason = "retry", string(v.outcome.Reason)
		}
	}
	span.SetAttributes(attrs("result", worst, "reason", reason)...)
	if worst != "ok" {
		span.SetStatus(codes.Error, worst+" "+reason)
	}
	span.End()
	p.m.BatchDuration.Observe(time.Since(start).Seconds())
}

// write loads the sources, sends one _bulk and classifies every event.
func (p *Projector) write(ctx context.Context, cl outbox.Claim, rnd *rand.Rand) []verdict {
	vs := make([]verdict, len(cl.Events))
	ids := make([]string, 0, len(cl.Events))
	seen := map[string]bool{}
	for i, ev := range cl.Events {
		vs[i].ev = ev
		if !seen[ev.EntityID] {
			seen[ev.EntityID] = true
			ids = append(ids, ev.EntityID)
		}
	}
	docs, err := p.store.Sources(ctx, ids)
	if err != nil {
		for i := range vs {
			vs[i].outcome = p.retryOrFail(vs[i].ev, outbox.ReasonDBError, p.cfg.Policy.Backoff, "load source row: "+err.Error(), rnd)
		}
		return vs
	}
	// One item per (index, entity): later events of an entity in the same
	// batch share the item, which carries the row's newest version.
	var items []search.BulkItem
	itemOf := map[string]int{}
	for i := range vs {
		ev := vs[i].ev
		doc, ok := docs[ev.EntityID]
		if !ok {
			vs[i].class = ClassSourceMissing
			vs[i].errText = "no search_index row for entity " + ev.EntityID
			continue
		}
		index := strings.ReplaceAll(p.cfg.Index, "{projection}", ev.Projection)
		key := index + "\x00" + ev.EntityID
		n, ok := itemOf[key]
		if !ok {
			n = len(items)
			itemOf[key] = n
			items = append(items, bulkItem(index, doc))
		}
		vs[i].op = items[n].Op
		vs[i].item = n
	}
	if len(items) > 0 {
		p.ensureIndexes(ctx, items)
		bctx, cancel := context.WithTimeout(ctx, p.cfg.BulkTimeout)
		res, err := p.idx.Bulk(bctx, items, p.cfg.Refresh)
		cancel()
		for i := range vs {
			if vs[i].op == "" {
				continue
			}
			if err != nil {
				vs[i].class, vs[i].status, vs[i].errText = classifyErr(err)
				continue
			}
			it := res.Items[vs[i].item]
			vs[i].class = classifyItem(vs[i].op, it)
			vs[i].status = it.Status
			if it.ErrorType != "" {
				vs[i].errText = fmt.Sprintf("%d %s: %s", it.Status, it.ErrorType, it.ErrorReason)
			}
		}
		if err == nil {
			for _, it := range res.Items {
				p.m.BulkItems.WithLabelValues(statusClass(it.Status)).Inc()
			}
		}
	}
	for i := range vs {
		vs[i].outcome, vs[i].result = p.decide(vs[i], docs, rnd)
	}
	return vs
}

func bulkItem(index string, d outbox.Document) search.BulkItem {
	it := search.BulkItem{Op: "index", Index: index, ID: d.EntityID, Version: d.Version, VersionType: "external"}
	if d.Deleted {
		it.Op = "delete"
		return it
	}
	it.Doc = map[string]any{"entity_id": d.EntityID, "entity_type": d.EntityType, "title": d.Title,
		"body": d.Body, "version": d.Version, "updated_at": d.UpdatedAt.UTC().Format(time.RFC3339Nano)}
	return it
}

func (p *Projector) ensureIndexes(ctx context.Context, items []search.BulkItem) {
	for _, it := range items {
		p.mu.Lock()
		done := p.ensured[it.Index]
		p.mu.Unlock()
		if done {
			continue
		}
		ectx, cancel := context.WithTimeout(ctx, p.cfg.BulkTimeout)
		err := p.idx.EnsureIndex(ectx, it.Index, []byte(IndexMapping))
		cancel()
		if err != nil {
			// The bulk below fails the same way and is classified there.
			p.log.WarnContext(ctx, "ensure index failed", "index", it.Index, "error", err.Error())
			continue
		}
		p.mu.Lock()
		p.ensured[it.Index] = true
		p.mu.Unlock()
	}
}

// decide applies the policy to one classified event.
func (p *Projector) decide(v verdict, docs map[string]outbox.Document, rnd *rand.Rand) (outbox.Outcome, string) {
	a := p.cfg.Policy.Classes[v.class]
	switch a.Action {
	case ActionDone:
		result := ResultIndexed
		switch {
		case v.class == ClassConflict, v.ev.Version < docs[v.ev.EntityID].Version:
			// The engine holds a newer version, or this event was superseded
			// by a newer version of its row written in its place.
			result = ResultStale
		case v.class == ClassDeleteNotFound:
			result = ResultNotFound
		case v.op == "delete":
			result = ResultDeleted
		}
		return outbox.Outcome{EventID: v.ev.ID, Kind: outbox.OutcomeDone}, result
	case ActionRetry:
		return p.retryOrFail(v.ev, a.Reason, p.cfg.Policy.backoffFor(v.class), v.errText, rnd), ""
	default:
		return outbox.Outcome{EventID: v.ev.ID, Kind: outbox.OutcomeFail, Reason: a.Reason, Error: v.errText}, ""
	}
}

// retryOrFail schedules another attempt, or fails the event once its
// retry budget is spent.
func (p *Projector) retryOrFail(ev outbox.Event, reason outbox.Reason, b Backoff, errText string, rnd *rand.Rand) outbox.Outcome {
	if ev.Attempts >= p.cfg.Policy.MaxAttempts {
		return outbox.Outcome{EventID: ev.ID, Kind: outbox.OutcomeFail, Reason: reason,
			Error: fmt.Sprintf("retry budget spent after %d attempts: %s", ev.Attempts, errText)}
	}
	return outbox.Outcome{EventID: ev.ID, Kind: outbox.OutcomeRetry, Reason: reason, Error: errText,
		RetryAt: time.Now().Add(b.Delay(ev.Attempts, rnd))}
}

// ack applies the outcomes (retrying the ack itself while the lease lasts),
// then records metrics, one log line and one span per event.
func (p *Projector) ack(ctx context.Context, cl outbox.Claim, vs []verdict) {
	outcomes := make([]outbox.Outcome, len(vs))
	for i, v := range vs {
		outcomes[i] = v.outcome
	}
	var res outbox.AckResult
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err = p.store.Ack(actx, cl, outcomes)
		cancel()
		if err == nil || time.Now().Add(time.Duration(attempt)*200*time.Millisecond).After(cl.LeaseUntil) {
			break
		}
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
	if err != nil {
		// The lease will expire and another claim will pick the events up.
		p.log.ErrorContext(ctx, "ack failed; events return after lease expiry", "worker_id", cl.Owner,
			"claim_batch_id", cl.BatchID, "reason", outbox.ReasonDBError, "error", err.Error(),
			"lease_until", cl.LeaseUntil.UTC().Format(time.RFC3339Nano))
		return
	}
	refused := make(map[string]bool, len(res.Refused))
	for _, id := range res.Refused {
		refused[id] = true
	}
	p.m.OwnerMismatch.Add(float64(len(res.Refused)))
	now := time.Now()
	for _, v := range vs {
		p.record(ctx, cl, v, refused[v.ev.ID], now)
	}
}

func (p *Projector) record(ctx context.Context, cl outbox.Claim, v verdict, refused bool, now time.Time) {
	result, reason := "", string(v.outcome.Reason)
	switch {
	case refused:
		result, reason = "refused", string(outbox.ReasonLeaseLost)
	case v.outcome.Kind == outbox.OutcomeDone:
		result = "done"
		p.m.Done.WithLabelValues(v.result).Inc()
		p.m.Latency.Observe(now.Sub(v.ev.CreatedAt).Seconds())
	case v.outcome.Kind == outbox.OutcomeRetry:
		result = "retry"
		p.m.Retry.WithLabelValues(reason).Inc()
	case v.outcome.Kind == outbox.OutcomeFail:
		result = "failed"
		p.m.Failed.WithLabelValues(reason).Inc()
	case v.outcome.Kind == outbox.OutcomeRelease:
		result = "released"
	}
	ectx, span := p.tracer.Start(ctx, "outbox.process", trace.WithTimestamp(cl.LeaseUntil.Add(-p.cfg.Lease)))
	span.SetAttributes(attrs("outbox.event_id", v.ev.ID, "outbox.entity_id", v.ev.EntityID,
		"outbox.op", string(v.ev.Op), "projection", v.ev.Projection, "result", result, "reason", reason,
		"claim_batch_id", cl.BatchID, "worker_id", cl.Owner)...)
	span.SetAttributes(intAttr("attempt", v.ev.Attempts), attribute.Int64("outbox.version", v.ev.Version))
	if result != "done" {
		span.SetStatus(codes.Error, result+" "+reason)
	}
	args := []any{"projection", v.ev.Projection, "op", string(v.ev.Op), "attempt", v.ev.Attempts,
		"result", result, "reason", reason, "outbox_event_id", v.ev.ID, "claim_batch_id", cl.BatchID,
		"worker_id", cl.Owner, "entity_id", v.ev.EntityID, "version", v.ev.Version, "class", string(v.class)}
	if v.result != "" && result == "done" {
		args = append(args, "done_result", v.result)
	}
	if v.status != 0 {
		args = append(args, "http_status", v.status)
	}
	if v.errText != "" {
		args = append(args, "error", v.errText)
	}
	if !v.outcome.RetryAt.IsZero() && result == "retry" {
		args = append(args, "next_attempt_at", v.outcome.RetryAt.UTC().Format(time.RFC3339Nano))
	}
	p.log.InfoContext(ectx, "ack", args...)
	span.End()
}

func classifyItem(op string, it search.ItemResult) Class {
	switch {
	case it.Status == 404 && op == "delete", it.Result == "not_found" && op == "delete":
		return ClassDeleteNotFound
	case it.Status >= 200 && it.Status < 300:
		return Class2xx
	case it.Status == 409:
		return ClassConflict
	}
	return statusClassOf(it.Status)
}

func statusClassOf(status int) Class {
	switch {
	case status == 429:
		return Class429
	case status >= 400 && status < 500:
		return Class4xx
	}
	return Class5xx
}

// classifyErr classifies a failed _bulk request for every item it carried.
func classifyErr(err error) (Class, int, string) {
	var se *search.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case search.KindConnect:
			return ClassConnect, 0, se.Error()
		case search.KindTimeout:
			return ClassTimeout, 0, se.Error()
		case search.KindStatus:
			return statusClassOf(se.Status), se.Status, se.Error()
		}
		return Class5xx, se.Status, se.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ClassTimeout, 0, err.Error()
	}
	return ClassConnect, 0, err.Error()
}

func statusClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	}
	return "5xx"
}

func attrs(kv ...string) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, attribute.String(kv[i], kv[i+1]))
	}
	return out
}

func intAttr(k string, v int) attribute.KeyValue { return attribute.Int(k, v) }
