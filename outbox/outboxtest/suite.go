package outboxtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"firedrill/outbox"
)

// Run runs the shared suite against adapter a.
func Run(t *testing.T, a Adapter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s outbox.Store)
	}{
		{"MigrateIdempotent", testMigrateIdempotent},
		{"WriteVersionsAndSources", testWriteVersions},
		{"WriteIsAtomic", testWriteAtomic},
		{"ClaimLeasesOnce", testClaimLeasesOnce},
		{"AckFencedByOwnerAndBatch", testAckFenced},
		{"LeaseExpiryReclaimRefusesStaleAck", testReclaim},
		{"RetryBackoffAndAttempts", testRetry},
		{"FailListReplay", testFailReplay},
		{"ReleaseGivesAttemptBack", testRelease},
		{"Stats", testStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, a.OpenFresh(t))
		})
	}
	t.Run("ClaimOnLockedTableIsErrLocked", func(t *testing.T) { testLocked(t, a) })
}

// testLocked holds an exclusive lock on the outbox from another connection:
// a claim fails with ErrLocked within the lock timeout instead of hanging,
// and succeeds once the lock is gone.
func testLocked(t *testing.T, a Adapter) {
	dsn := a.DSN(t)
	s := a.Open(t, dsn, outbox.Options{LockTimeout: 300 * time.Millisecond})
	WriteN(t, s, "x", 1)
	unlock := a.Lock(t, dsn)
	start := time.Now()
	_, err := s.Claim(ctxT(t), "A", 1, time.Minute)
	if !errors.Is(err, outbox.ErrLocked) {
		unlock()
		t.Fatalf("claim on a locked table: got %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited > 20*time.Second {
		t.Errorf("claim waited %v for a 300ms lock timeout", waited)
	}
	unlock()
	cl, err := s.Claim(ctxT(t), "A", 1, time.Minute)
	if err != nil || len(cl.Events) != 1 {
		t.Fatalf("claim after unlock: %d events, %v; want 1", len(cl.Events), err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// WriteN writes n upserts of entities prefix-0..n-1 and returns their events.
func WriteN(t testing.TB, s outbox.Store, prefix string, n int) []outbox.Written {
	t.Helper()
	changes := make([]outbox.Change, n)
	for i := range changes {
		changes[i] = outbox.Change{EntityID: fmt.Sprintf("%s-%d", prefix, i), EntityType: "note", Title: "t", Body: "b", Op: outbox.OpUpsert}
	}
	w, err := s.Write(context.Background(), changes)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return w
}

func testMigrateIdempotent(t *testing.T, s outbox.Store) {
	for i := range 2 {
		if err := s.Migrate(ctxT(t)); err != nil {
			t.Fatalf("migrate #%d: %v", i+2, err)
		}
	}
	WriteN(t, s, "m", 1)
}

func testWriteVersions(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	up := outbox.Change{EntityID: "e1", EntityType: "note", Title: "a", Body: "x", Op: outbox.OpUpsert}
	w, err := s.Write(ctx, []outbox.Change{up, up, {EntityID: "e1", Op: outbox.OpDelete, Projection: "v2"}})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := []int64{w[0].Version, w[1].Version, w[2].Version}; !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("versions: got %v, want [1 2 3]", got)
	}
	docs, err := s.Sources(ctx, []string{"e1", "missing"})
	if err != nil {
		t.Fatalf("sources: %v", err)
	}
	d, ok := docs["e1"]
	if !ok || len(docs) != 1 {
		t.Fatalf("sources: got %v, want only e1", docs)
	}
	if d.Version != 3 || !d.Deleted || d.Title != "a" || d.EntityType != "note" {
		t.Fatalf("source row: got %+v, want version 3, deleted, title a", d)
	}
	cl, err := s.Claim(ctx, "w", 10, time.Minute)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(cl.Events) != 3 {
		t.Fatalf("claimed %d events, want 3", len(cl.Events))
	}
	byVersion := map[int64]outbox.Event{}
	for _, ev := range cl.Events {
		byVersion[ev.Version] = ev
	}
	if ev := byVersion[3]; ev.Op != outbox.OpDelete || ev.Projection != "v2" || ev.EntityID != "e1" {
		t.Fatalf("delete event: got %+v", ev)
	}
	if ev := byVersion[1]; ev.Op != outbox.OpUpsert || ev.Projection != outbox.DefaultProjection {
		t.Fatalf("upsert event: got op %s projection %s, want upsert %s", ev.Op, ev.Projection, outbox.DefaultProjection)
	}
}

func testWriteAtomic(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	cases := []struct {
		name    string
		changes []outbox.Change
		want    string
	}{
		{"unknown op", []outbox.Change{
			{EntityID: "a", EntityType: "note", Op: outbox.OpUpsert},
			{EntityID: "b", EntityType: "note", Op: "merge"},
		}, `unknown op "merge"`},
		{"delete of a missing entity", []outbox.Change{
			{EntityID: "a", EntityType: "note", Op: outbox.OpUpsert},
			{EntityID: "nope", Op: outbox.OpDelete},
		}, "no such entity"},
		{"missing entity id", []outbox.Change{{EntityType: "note", Op: outbox.OpUpsert}}, "no entity_id"},
	}
	for _, tc := range cases {
		_, err := s.Write(ctx, tc.changes)
		if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want ErrInvalid mentioning %q", tc.name, err, tc.want)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Counts[outbox.StatusPending]; n != 0 {
		t.Fatalf("after refused writes: got %d pending events, want 0 (no partial writes)", n)
	}
	if docs, _ := s.Sources(ctx, []string{"a"}); len(docs) != 0 {
		t.Fatalf("after refused writes: source row a exists, want none")
	}
}

func testClaimLeasesOnce(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	WriteN(t, s, "c", 5)
	a, err := s.Claim(ctx, "A", 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, "B", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, "C", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Events) != 3 || len(b.Events) != 2 || len(c.Events) != 0 {
		t.Fatalf("claim sizes: got %d/%d/%d, want 3/2/0", len(a.Events), len(b.Events), len(c.Events))
	}
	if a.BatchID == b.BatchID || a.BatchID == "" {
		t.Fatalf("batch ids: got %q and %q, want distinct non-empty", a.BatchID, b.BatchID)
	}
	if d := time.Until(a.LeaseUntil); d < 30*time.Second || d > 2*time.Minute {
		t.Fatalf("lease_until: got %v from now, want about 1m", d)
	}
	for _, ev := range a.Events {
		if ev.Status != outbox.StatusProcessing || ev.LeaseOwner != "A" || ev.ClaimBatchID != a.BatchID || ev.Attempts != 1 {
			t.Fatalf("claimed event: got status=%s owner=%s batch=%s attempts=%d", ev.Status, ev.LeaseOwner, ev.ClaimBatchID, ev.Attempts)
		}
	}
	if a.Reclaimed != 0 {
		t.Fatalf("reclaimed: got %d, want 0", a.Reclaimed)
	}
}

func done(evs []outbox.Event) []outbox.Outcome {
	out := make([]outbox.Outcome, len(evs))
	for i, ev := range evs {
		out[i] = outbox.Outcome{EventID: ev.ID, Kind: outbox.OutcomeDone}
	}
	return out
}

func testAckFenced(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	kinds := []outbox.OutcomeKind{outbox.OutcomeDone, outbox.OutcomeRetry, outbox.OutcomeFail, outbox.OutcomeRelease}
	WriteN(t, s, "f", 2*len(kinds))
	for _, kind := range kinds {
		cl, err := s.Claim(ctx, "A", 2, time.Minute)
		if err != nil || len(cl.Events) != 2 {
			t.Fatalf("claim: %d events, %v", len(cl.Events), err)
		}
		outcomes := make([]outbox.Outcome, len(cl.Events))
		for i, ev := range cl.Events {
			outcomes[i] = outbox.Outcome{EventID: ev.ID, Kind: kind, Reason: outbox.ReasonES429, Delay: time.Hour}
		}
		for _, forged := range []outbox.Claim{
			{Owner: "B", BatchID: cl.BatchID},
			{Owner: "A", BatchID: "00000000-0000-7000-8000-000000000000"},
		} {
			res, err := s.Ack(ctx, forged, outcomes)
			if err != nil {
				t.Fatal(err)
			}
			if res.Applied != 0 || len(res.Refused) != 2 {
				t.Fatalf("kind %d: forged ack %s/%s: got applied=%d refused=%d, want 0/2", kind, forged.Owner, forged.BatchID, res.Applied, len(res.Refused))
			}
		}
		res, err := s.Ack(ctx, cl, outcomes)
		if err != nil || res.Applied != 2 || len(res.Refused) != 0 {
			t.Fatalf("kind %d: owner ack: got %+v, %v; want 2 applied", kind, res, err)
		}
		// A second ack is refused: the events are no longer processing.
		res, err = s.Ack(ctx, cl, outcomes)
		if err != nil || res.Applied != 0 || len(res.Refused) != 2 {
			t.Fatalf("kind %d: repeated ack: got %+v, %v; want all refused", kind, res, err)
		}
		if kind == outbox.OutcomeRelease {
			// Released events are claimable at once; take them out of the way.
			again, _ := s.Claim(ctx, "C", 2, time.Minute)
			if _, err := s.Ack(ctx, again, done(again.Events)); err != nil || len(again.Events) != 2 {
				t.Fatalf("released events: claimed %d, %v; want 2", len(again.Events), err)
			}
		}
	}
}

func testReclaim(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	WriteN(t, s, "r", 3)
	old, err := s.Claim(ctx, "old", 10, 200*time.Millisecond)
	if err != nil || len(old.Events) != 3 {
		t.Fatalf("claim: %d events, %v", len(old.Events), err)
	}
	var fresh outbox.Claim
	deadline := time.Now().Add(10 * time.Second)
	for {
		fresh, err = s.Claim(ctx, "new", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(fresh.Events) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(fresh.Events) != 3 || fresh.Reclaimed != 3 {
		t.Fatalf("reclaim: got %d events, %d reclaimed; want 3 and 3", len(fresh.Events), fresh.Reclaimed)
	}
	for _, ev := range fresh.Events {
		if ev.Attempts != 2 {
			t.Fatalf("reclaimed event attempts: got %d, want 2", ev.Attempts)
		}
	}
	res, err := s.Ack(ctx, old, done(old.Events))
	if err != nil || res.Applied != 0 || len(res.Refused) != 3 {
		t.Fatalf("stale owner ack: got %+v, %v; want all 3 refused", res, err)
	}
	res, err = s.Ack(ctx, fresh, done(fresh.Events))
	if err != nil || res.Applied != 3 {
		t.Fatalf("new owner ack: got %+v, %v; want 3 applied", res, err)
	}
}

func testRetry(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	WriteN(t, s, "t", 1)
	cl, _ := s.Claim(ctx, "A", 1, time.Minute)
	at := time.Now().Add(300 * time.Millisecond)
	res, err := s.Ack(ctx, cl, []outbox.Outcome{{EventID: cl.Events[0].ID, Kind: outbox.OutcomeRetry,
		Reason: outbox.ReasonES429, Error: "429 es_rejected_execution_exception", Delay: 300 * time.Millisecond}})
	if err != nil || res.Applied != 1 {
		t.Fatalf("retry ack: %+v %v", res, err)
	}
	if early, _ := s.Claim(ctx, "B", 1, time.Minute); len(early.Events) != 0 {
		_ = at
		t.Fatalf("claimed a retried event before its next_attempt_at")
	}
	var again outbox.Claim
	for deadline := time.Now().Add(10 * time.Second); len(again.Events) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		again, err = s.Claim(ctx, "B", 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(again.Events) != 1 {
		t.Fatal("retried event never became claimable")
	}
	ev := again.Events[0]
	if time.Now().Before(at) {
		t.Fatalf("claimed at %v, before next_attempt_at %v", time.Now(), at)
	}
	if ev.Attempts != 2 || ev.LastReason != outbox.ReasonES429 || ev.LastError != "429 es_rejected_execution_exception" {
		t.Fatalf("retried event: got attempts=%d reason=%q error=%q", ev.Attempts, ev.LastReason, ev.LastError)
	}
}

func testFailReplay(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	WriteN(t, s, "d", 3)
	cl, _ := s.Claim(ctx, "A", 3, time.Minute)
	long := make([]byte, outbox.MaxErrorLen+500)
	for i := range long {
		long[i] = 'x'
	}
	_, err := s.Ack(ctx, cl, []outbox.Outcome{
		{EventID: cl.Events[0].ID, Kind: outbox.OutcomeFail, Reason: outbox.ReasonES4xx, Error: string(long)},
		{EventID: cl.Events[1].ID, Kind: outbox.OutcomeFail, Reason: outbox.ReasonSourceMissing, Error: "gone"},
		{EventID: cl.Events[2].ID, Kind: outbox.OutcomeDone},
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.Failed(ctx, outbox.FailedFilter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("failed: got %d, %v; want 2", len(all), err)
	}
	only, _ := s.Failed(ctx, outbox.FailedFilter{Reason: outbox.ReasonES4xx})
	if len(only) != 1 || only[0].ID != cl.Events[0].ID || len(only[0].LastError) != outbox.MaxErrorLen {
		t.Fatalf("failed es_4xx: got %d events (error len %d), want event %s with error truncated to %d",
			len(only), errLen(only), cl.Events[0].ID, outbox.MaxErrorLen)
	}
	n, err := s.Replay(ctx, outbox.ReasonES4xx, true)
	if err != nil || n != 1 {
		t.Fatalf("replay dry-run: got %d, %v; want 1", n, err)
	}
	if again, _ := s.Failed(ctx, outbox.FailedFilter{}); len(again) != 2 {
		t.Fatalf("dry-run changed dead letters: %d left, want 2", len(again))
	}
	n, err = s.Replay(ctx, outbox.ReasonES4xx, false)
	if err != nil || n != 1 {
		t.Fatalf("replay: got %d, %v; want 1", n, err)
	}
	re, _ := s.Claim(ctx, "B", 10, time.Minute)
	if len(re.Events) != 1 || re.Events[0].ID != cl.Events[0].ID || re.Events[0].Attempts != 1 {
		t.Fatalf("after replay: claimed %d events, want the replayed one with attempts reset to 1", len(re.Events))
	}
	left, _ := s.Failed(ctx, outbox.FailedFilter{})
	if len(left) != 1 || left[0].LastReason != outbox.ReasonSourceMissing {
		t.Fatalf("dead letters left: got %d, want the source_missing one", len(left))
	}
}

func errLen(evs []outbox.Event) int {
	if len(evs) == 0 {
		return 0
	}
	return len(evs[0].LastError)
}

func testRelease(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	WriteN(t, s, "l", 2)
	cl, _ := s.Claim(ctx, "A", 2, time.Hour)
	res, err := s.Ack(ctx, cl, []outbox.Outcome{
		{EventID: cl.Events[0].ID, Kind: outbox.OutcomeRelease},
		{EventID: cl.Events[1].ID, Kind: outbox.OutcomeRelease},
	})
	if err != nil || res.Applied != 2 {
		t.Fatalf("release: %+v %v", res, err)
	}
	again, _ := s.Claim(ctx, "B", 10, time.Minute)
	if len(again.Events) != 2 || again.Reclaimed != 0 {
		t.Fatalf("after release: claimed %d (reclaimed %d), want 2 (0)", len(again.Events), again.Reclaimed)
	}
	for _, ev := range again.Events {
		if ev.Attempts != 1 {
			t.Fatalf("after release: attempts %d, want 1", ev.Attempts)
		}
	}
}

func testStats(t *testing.T, s outbox.Store) {
	ctx := ctxT(t)
	st, err := s.Stats(ctx)
	if err != nil || len(st.Counts) != 0 || st.OldestPendingAge != 0 {
		t.Fatalf("empty stats: got %+v, %v", st, err)
	}
	WriteN(t, s, "s", 4)
	cl, _ := s.Claim(ctx, "A", 2, time.Minute)
	_, _ = s.Ack(ctx, cl, []outbox.Outcome{
		{EventID: cl.Events[0].ID, Kind: outbox.OutcomeDone},
		{EventID: cl.Events[1].ID, Kind: outbox.OutcomeFail, Reason: outbox.ReasonES4xx},
	})
	_, _ = s.Claim(ctx, "B", 1, time.Minute)
	st, err = s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[outbox.Status]int64{outbox.StatusDone: 1, outbox.StatusFailed: 1, outbox.StatusProcessing: 1, outbox.StatusPending: 1}
	for k, v := range want {
		if st.Counts[k] != v {
			t.Errorf("count %s: got %d, want %d", k, st.Counts[k], v)
		}
	}
	if st.FailedByReason[outbox.ReasonES4xx] != 1 {
		t.Errorf("failed by reason: got %v, want es_4xx=1", st.FailedByReason)
	}
	if st.OldestPendingAge < 0 || st.OldestPendingAge > time.Minute {
		t.Errorf("oldest pending age: got %v, want a few ms", st.OldestPendingAge)
	}
	n, age, err := s.Backlog(ctx)
	if err != nil || n != 2 || age < 0 || age > time.Minute {
		t.Errorf("backlog: got %d, %v, %v; want 2 pending or processing", n, age, err)
	}
}
