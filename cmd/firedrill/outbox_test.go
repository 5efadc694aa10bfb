package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firedrill/outbox"
	"firedrill/store"
)

// TestOutboxStatsFailedReplay dead-letters events with two reasons, then
// lists, filters and replays them through the CLI.
func TestOutboxStatsFailedReplay(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "o.db")
	if code, _, stderr := runCLI(ctx, "load", "--db", dsn, "--entities", "6", "--update-ratio", "0", "--delete-ratio", "0"); code != 0 {
		t.Fatalf("load: %s", stderr)
	}
	s, err := store.Open(ctx, dsn, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := s.Claim(ctx, "t", 4, time.Minute)
	if err != nil || len(cl.Events) != 4 {
		t.Fatalf("claim: %d, %v", len(cl.Events), err)
	}
	reasons := []outbox.Reason{outbox.ReasonES4xx, outbox.ReasonES4xx, outbox.ReasonSourceMissing}
	var outcomes []outbox.Outcome
	for i, r := range reasons {
		outcomes = append(outcomes, outbox.Outcome{EventID: cl.Events[i].ID, Kind: outbox.OutcomeFail, Reason: r, Error: "403 cluster_block_exception"})
	}
	outcomes = append(outcomes, outbox.Outcome{EventID: cl.Events[3].ID, Kind: outbox.OutcomeDone})
	if _, err := s.Ack(ctx, cl, outcomes); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	code, out, stderr := runCLI(ctx, "outbox", "stats", "--db", dsn, "--json")
	var st struct {
		Counts         map[string]int64 `json:"counts"`
		FailedByReason map[string]int64 `json:"failed_by_reason"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("stats: exit %d, %q %q", code, out, stderr)
	}
	if st.Counts["failed"] != 3 || st.Counts["pending"] != 2 || st.Counts["done"] != 1 || st.FailedByReason["es_4xx"] != 2 {
		t.Fatalf("stats: got %+v", st)
	}
	code, out, _ = runCLI(ctx, "outbox", "failed", "--db", dsn, "--reason", "es_4xx")
	if code != 0 || strings.Count(out, "es_4xx") != 2 || strings.Contains(out, "source_missing") || !strings.Contains(out, "cluster_block_exception") {
		t.Fatalf("failed --reason es_4xx: exit %d, output:\n%s", code, out)
	}
	code, out, _ = runCLI(ctx, "outbox", "replay", "--db", dsn, "--reason", "es_4xx", "--dry-run")
	if code != 0 || !strings.Contains(out, "would re-queue 2 dead letters (reason es_4xx)") {
		t.Fatalf("replay --dry-run: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(ctx, "outbox", "replay", "--db", dsn)
	if code != 0 || !strings.Contains(out, "re-queued 3 dead letters (all reasons)") {
		t.Fatalf("replay: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(ctx, "outbox", "stats", "--db", dsn)
	if code != 0 || !strings.Contains(out, "pending             5") || !strings.Contains(out, "failed              0") {
		t.Fatalf("stats after replay: exit %d, output:\n%s", code, out)
	}
}
