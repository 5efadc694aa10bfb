package fault_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"firedrill/fault"
)

type countingInjector struct{ applied, reverted atomic.Int32 }

func (c *countingInjector) Apply(context.Context) (fault.Revert, error) {
	c.applied.Add(1)
	return func(ctx context.Context) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.reverted.Add(1)
		return nil
	}, nil
}

func TestHoldRevertsOnExpiryAndOnCancel(t *testing.T) {
	inj := &countingInjector{}
	if err := fault.Hold(context.Background(), inj, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fault.Hold(ctx, inj, time.Hour) }()
	for inj.applied.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("hold after cancel: %v (the revert must get a fresh context)", err)
	}
	if a, r := inj.applied.Load(), inj.reverted.Load(); a != 2 || r != 2 {
		t.Fatalf("applied %d, reverted %d; want 2 and 2", a, r)
	}
	if err := fault.Hold(context.Background(), inj, 0); !errors.Is(err, fault.ErrInvalid) {
		t.Fatalf("zero duration: %v, want ErrInvalid", err)
	}
}

func TestCheckTarget(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:9200", "localhost:5432", "[::1]:80", "127.0.0.5", "https://localhost/x"} {
		if err := fault.CheckTarget(ok, nil); err != nil {
			t.Errorf("%s: %v, want allowed", ok, err)
		}
	}
	err := fault.CheckTarget("http://es.prod.example:9200", nil)
	if !errors.Is(err, fault.ErrTargetRefused) || !strings.Contains(err.Error(), "FIREDRILL_ALLOW_TARGETS=es.prod.example") {
		t.Fatalf("remote host: got %v, want a refusal naming FIREDRILL_ALLOW_TARGETS", err)
	}
	t.Setenv(fault.AllowTargetsEnv, "es.staging:9200, db.staging")
	allow := fault.AllowedTargets()
	for _, tc := range []struct {
		target string
		ok     bool
	}{{"http://es.staging:9200", true}, {"http://es.staging:9300", false}, {"postgres://db.staging:5432/x", true}, {"10.0.0.1", false}} {
		if err := fault.CheckTarget(tc.target, allow); (err == nil) != tc.ok {
			t.Errorf("%s with %v: %v, want allowed=%v", tc.target, allow, err, tc.ok)
		}
	}
}

func TestJournalRecoversOnlyStaleRecords(t *testing.T) {
	j := fault.Journal{Dir: t.TempDir()}
	live, remove, err := j.Add(fault.Record{Kind: fault.KindWriteBlock, Target: "mine", Data: map[string]string{"index": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale, _, err := j.Add(fault.Record{Kind: fault.KindWriteBlock, Target: "crashed", OwnerPID: dead.Process.Pid, OwnerStart: "1",
		Data: map[string]string{"index": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := j.Add(fault.Record{Kind: fault.KindDBLock, Target: "no repairer", OwnerPID: dead.Process.Pid, OwnerStart: "1"}); err != nil {
		t.Fatal(err)
	}
	var repaired []string
	done, err := j.Recover(context.Background(), map[fault.Kind]fault.Repairer{
		fault.KindWriteBlock: func(_ context.Context, r fault.Record) error {
			repaired = append(repaired, r.Data["index"])
			return nil
		},
	})
	if err == nil || !strings.Contains(err.Error(), "no repair for this kind") {
		t.Errorf("recover: %v, want an error for the record without a repairer", err)
	}
	if len(done) != 1 || done[0].ID != stale.ID || len(repaired) != 1 || repaired[0] != "b" {
		t.Fatalf("repaired %v (%v), want only the crashed owner's record", repaired, done)
	}
	recs, err := j.List()
	if err != nil || len(recs) != 2 {
		t.Fatalf("left: %d records (%v), want the live one and the unrepaired one", len(recs), err)
	}
	if !live.Alive() || recs[0].ID != live.ID {
		t.Errorf("the live record %s is not first or not alive", live.ID)
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j.Dir+"/broken.json", []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := j.List(); err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("a broken record: %v, want an error naming its file", err)
	}
}
