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
	ev         outbox.Event
	class      Class
	op         string // bulk op sent: index or delete; "" when nothing was sent
	item       int    // position of its item in the _bulk request
	status     int    // item or request HTTP status, 0 when none
	errText    string
	retryAfter time.Duration // the engine's Retry-After, a floor for the backoff
	decided    bool          // outcome set outside the policy (poison, source load failure)
	outcome    outbox.Outcome
	result     string // done result label
}

// process writes one claimed batch and acks every event on its own result.
// claimedAt is the local time the claim was sent: the lease ends no earlier
// than claimedAt+Lease, whatever the database's clock says.
func (p *Projector) process(ctx context.Context, cl outbox.Claim, claimedAt time.Time, rnd *rand.Rand) {
	start := time.Now()
	leaseEnd := claimedAt.Add(p.cfg.Lease)
	// Writing stops short of the lease's end, and outlives a shutdown
	// request by at most ShutdownGrace.
	margin := max(min(p.cfg.Lease/10, time.Second), 10*time.Millisecond)
	work, cancel := context.WithDeadline(context.WithoutCancel(ctx), leaseEnd.Add(-margin))
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
	if ctx.Err() != nil && errors.Is(work.Err(), context.Canceled) {
		// Shutdown grace ran out mid-batch: hand every event back untouched.
		for i := range vs {
			vs[i].outcome = outbox.Outcome{EventID: vs[i].ev.ID, Kind: outbox.OutcomeRelease}
		}
	}
	worst, reason := p.ack(context.WithoutCancel(bctx), cl, vs, start, leaseEnd)
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
		if ev.Attempts > p.cfg.Policy.MaxAttempts {
			// Its earlier leases expired without an ack (a worker crashed or
			// hung on it): stop handing it out.
			vs[i].decided = true
			vs[i].outcome = outbox.Outcome{EventID: ev.ID, Kind: outbox.OutcomeFail, Reason: outbox.ReasonLeaseLost,
				Error: fmt.Sprintf("claimed %d times (max_attempts %d) without an ack: earlier leases expired", ev.Attempts, p.cfg.Policy.MaxAttempts)}
			continue
		}
		if !seen[ev.EntityID] {
			seen[ev.EntityID] = true
			ids = append(ids, ev.EntityID)
		}
	}
	docs, err := p.store.Sources(ctx, ids)
	if err != nil {
		for i := range vs {
			if !vs[i].decided {
				vs[i].decided = true
				vs[i].outcome = p.retryOrFail(vs[i].ev, outbox.ReasonDBError, p.cfg.Policy.Backoff.Delay(vs[i].ev.Attempts, rnd),
					"load source row: "+err.Error())
			}
		}
		return vs
	}
	// One item per (index, entity): later events of an entity in the same
	// batch share the item, which carries the row's newest version.
	var items []search.BulkItem
	itemOf := map[string]int{}
	for i := range vs {
		if vs[i].decided {
			continue
		}
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
		p.send(ctx, items, vs)
	}
	for i := range vs {
		if !vs[i].decided {
			vs[i].outcome, vs[i].result = p.decide(vs[i], docs, rnd)
		}
	}
	return vs
}

// send writes items with one _bulk and classifies the events that carried them.
func (p *Projector) send(ctx context.Context, items []search.BulkItem, vs []verdict) {
	bctx, cancel := context.WithTimeout(ctx, p.cfg.BulkTimeout)
	defer cancel()
	p.ensureIndexes(bctx, items)
	res, err := p.idx.Bulk(bctx, items, p.cfg.Refresh)
	if err == nil {
		err = checkAligned(items, res)
	}
	var class Class
	var status int
	var errText string
	var retryAfter time.Duration
	if err != nil {
		class, status, errText, retryAfter = classifyErr(err)
	} else {
		for _, it := range res.Items {
			p.m.BulkItems.WithLabelValues(statusClass(it.Status)).Inc()
		}
	}
	for i := range vs {
		if vs[i].op == "" {
			continue
		}
		if err != nil {
			vs[i].class, vs[i].status, vs[i].errText, vs[i].retryAfter = class, status, errText, retryAfter
			continue
		}
		it := res.Items[vs[i].item]
		vs[i].class = classifyItem(vs[i].op, it)
		vs[i].status = it.Status
		if it.ErrorType != "" {
			vs[i].errText = fmt.Sprintf("%d %s: %s", it.Status, it.ErrorType, it.ErrorReason)
		}
	}
}

// checkAligned refuses an answer whose items do not answer the request's
// items in order: acking on a misaligned answer would mark one entity done
// on another's success.
func checkAligned(items []search.BulkItem, res search.BulkResult) error {
	if len(res.Items) != len(items) {
		return &search.Error{Kind: search.KindProtocol, Op: "bulk",
			Reason: fmt.Sprintf("answer has %d items for %d sent", len(res.Items), len(items))}
	}
	for i, it := range res.Items {
		if it.ID != items[i].ID || it.Op != items[i].Op {
			return &search.Error{Kind: search.KindProtocol, Op: "bulk",
				Reason: fmt.Sprintf("item %d answers %s %q, sent %s %q", i, it.Op, it.ID, items[i].Op, items[i].ID)}
		}
	}
	return nil
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

// ensureIndexes creates each missing index once per process, within the
// bulk's own deadline; the first failure stops it (the bulk then fails the
// same way and is classified there).
func (p *Projector) ensureIndexes(ctx context.Context, items []search.BulkItem) {
	checked := map[string]bool{}
	for _, it := range items {
		if checked[it.Index] {
			continue
		}
		checked[it.Index] = true
		p.mu.Lock()
		done := p.ensured[it.Index]
		p.mu.Unlock()
		if done {
			continue
		}
		if err := p.idx.EnsureIndex(ctx, it.Index, []byte(IndexMapping)); err != nil {
			p.log.WarnContext(ctx, "ensure index failed", "index", it.Index, "error", err.Error())
			return
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
		delay := max(p.cfg.Policy.backoffFor(v.class).Delay(v.ev.Attempts, rnd), v.retryAfter)
		return p.retryOrFail(v.ev, a.Reason, delay, v.errText), ""
	default:
		return outbox.Outcome{EventID: v.ev.ID, Kind: outbox.OutcomeFail, Reason: a.Reason, Error: v.errText}, ""
	}
}

// retryOrFail schedules another attempt after delay, or fails the event
// once its retry budget is spent.
func (p *Projector) retryOrFail(ev outbox.Event, reason outbox.Reason, delay time.Duration, errText string) outbox.Outcome {
	if ev.Attempts >= p.cfg.Policy.MaxAttempts {
		return outbox.Outcome{EventID: ev.ID, Kind: outbox.OutcomeFail, Reason: reason,
			Error: fmt.Sprintf("retry budget spent after %d attempts: %s", ev.Attempts, errText)}
	}
	return outbox.Outcome{EventID: ev.ID, Kind: outbox.OutcomeRetry, Reason: reason, Error: errText, Delay: delay}
}

// ack applies the outcomes (retrying the ack itself while the lease lasts),
// then records metrics, one log line and one span per event. It returns the
// batch's worst outcome and its reason.
func (p *Projector) ack(ctx context.Context, cl outbox.Claim, vs []verdict, started, leaseEnd time.Time) (string, string) {
	outcomes := make([]outbox.Outcome, len(vs))
	for i, v := range vs {
		outcomes[i] = v.outcome
	}
	var res outbox.AckResult
	var err error
	// The first ack is sent even past the lease: if nobody reclaimed the
	// events it still applies, and if somebody did the fence refuses it and
	// the mismatch is counted. Retries of a failed ack stop at the lease end.
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err = p.store.Ack(actx, cl, outcomes)
		cancel()
		pause := time.Duration(attempt) * 200 * time.Millisecond
		if err == nil || time.Now().Add(pause).After(leaseEnd) {
			break
		}
		time.Sleep(pause)
	}
	if err != nil {
		ids := make([]string, len(vs))
		for i, v := range vs {
			ids[i] = v.ev.ID
		}
		// The lease will expire and another claim will pick the events up.
		p.log.ErrorContext(ctx, "ack failed; events return after lease expiry", "worker_id", cl.Owner,
			"claim_batch_id", cl.BatchID, "event_ids", ids, "reason", outbox.ReasonDBError, "error", err.Error(),
			"lease_until", cl.LeaseUntil.UTC().Format(time.RFC3339Nano))
		return "failed", string(outbox.ReasonDBError)
	}
	refused := make(map[string]bool, len(res.Refused))
	for _, id := range res.Refused {
		refused[id] = true
	}
	p.m.OwnerMismatch.Add(float64(len(res.Refused)))
	now := time.Now()
	worst, reason := "ok", ""
	for _, v := range vs {
		result, why := p.record(ctx, cl, v, refused[v.ev.ID], started, now)
		switch {
		case result == "failed" || result == "refused":
			worst, reason = "failed", why
		case result != "done" && worst == "ok":
			worst, reason = "retry", why
		}
	}
	return worst, reason
}

func (p *Projector) record(ctx context.Context, cl outbox.Claim, v verdict, refused bool, started, now time.Time) (string, string) {
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
	ectx, span := p.tracer.Start(ctx, "outbox.process", trace.WithTimestamp(started))
	span.SetAttributes(attrs("outbox.event_id", v.ev.ID, "outbox.entity_id", v.ev.EntityID,
		"outbox.op", string(v.ev.Op), "projection", v.ev.Projection, "result", result, "reason", reason,
		"claim_batch_id", cl.BatchID, "worker_id", cl.Owner)...)
	span.SetAttributes(intAttr("attempt", v.ev.Attempts), attribute.Int64("outbox.version", v.ev.Version))
	if result != "done" {
		span.SetStatus(codes.Error, result+" "+reason)
	}
	args := []any{"projection", v.ev.Projection, "op", string(v.ev.Op), "attempt", v.ev.Attempts,
		"result", result, "reason", reason, "outbox_event_id", v.ev.ID, "claim_batch_id", cl.BatchID,
		"worker_id", cl.Owner, "lease_until", cl.LeaseUntil.UTC().Format(time.RFC3339Nano),
		"entity_id", v.ev.EntityID, "version", v.ev.Version, "class", string(v.class)}
	if v.result != "" && result == "done" {
		args = append(args, "done_result", v.result)
	}
	if v.status != 0 {
		args = append(args, "http_status", v.status)
	}
	if v.errText != "" {
		args = append(args, "error", v.errText)
	}
	if result == "retry" {
		args = append(args, "retry_in", v.outcome.Delay.String())
	}
	p.log.InfoContext(ectx, "ack", args...)
	span.End()
	return result, reason
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
func classifyErr(err error) (class Class, status int, text string, retryAfter time.Duration) {
	var se *search.Error
	switch {
	case errors.As(err, &se) && se.Kind == search.KindConnect:
		return ClassConnect, 0, se.Error(), 0
	case errors.As(err, &se) && se.Kind == search.KindTimeout:
		return ClassTimeout, 0, se.Error(), 0
	case errors.As(err, &se) && se.Kind == search.KindStatus:
		switch {
		case se.Status == 429:
			return Class429, se.Status, se.Error(), se.RetryAfter
		case se.Status >= 400 && se.Status < 500:
			return ClassRequest4xx, se.Status, se.Error(), se.RetryAfter
		}
		return Class5xx, se.Status, se.Error(), se.RetryAfter
	case errors.As(err, &se):
		return Class5xx, se.Status, se.Error(), 0
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ClassTimeout, 0, err.Error(), 0
	}
	// Refused before sending (an item the client cannot encode): the same
	// event would fail the same way again.
	return Class4xx, 0, err.Error(), 0
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
