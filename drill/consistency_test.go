package drill

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"firedrill/drill/bundle"
)

func TestSnapshotCount(t *testing.T) {
	ent := func(id string, sv int64, del, found bool, ev int64) EntityView {
		return EntityView{ID: id, SourceVersion: sv, SourceDeleted: del, EngineFound: found, EngineVersion: ev}
	}
	tests := []struct {
		name string
		snap Snapshot
		want Counts
	}{
		{"consistent", Snapshot{EngineCount: 1, Entities: []EntityView{ent("a", 2, false, true, 2), ent("b", 3, true, false, 0)}}, Counts{}},
		{"lost", Snapshot{Entities: []EntityView{ent("a", 2, false, false, 0)}}, Counts{Lost: 1}},
		{"stale", Snapshot{EngineCount: 1, Entities: []EntityView{ent("a", 3, false, true, 2)}}, Counts{Stale: 1}},
		{"ghost of a delete", Snapshot{EngineCount: 1, Entities: []EntityView{ent("a", 3, true, true, 2)}}, Counts{Ghost: 1}},
		{"a version the source never had", Snapshot{EngineCount: 1, Entities: []EntityView{ent("a", 2, false, true, 5)}}, Counts{Ghost: 1}},
		{"documents of no entity", Snapshot{EngineCount: 3, Entities: []EntityView{ent("a", 1, false, true, 1)}}, Counts{Ghost: 2}},
		{"a dead letter of the newest version excuses, and is counted", Snapshot{Entities: []EntityView{ent("a", 2, false, false, 0)},
			DeadLetters: []DeadLetter{{EntityID: "a", Version: 2, Reason: "es_4xx"}}}, Counts{DeadLettered: 1}},
		{"a dead letter of an older version excuses nothing", Snapshot{Entities: []EntityView{ent("a", 2, false, false, 0)},
			DeadLetters: []DeadLetter{{EntityID: "a", Version: 1, Reason: "es_4xx"}}}, Counts{Lost: 1, DeadLettered: 1}},
		{"a row the run wrote is missing from the source", Snapshot{Entities: []EntityView{{ID: "a", SourceMissing: true}}}, Counts{Lost: 1}},
		{"left unfinished", Snapshot{Pending: 2, Processing: 1}, Counts{Pending: 2, Processing: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.snap.Count(nil)
			got.Examples = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			for _, f := range []string{"lost", "stale", "ghost", "dead_lettered", "pending", "processing", "duplicates"} {
				if _, ok := got.Field(f); !ok {
					t.Errorf("Field(%q) unknown", f)
				}
			}
		})
	}
}

func TestResentFindsEventsClaimedAfterTheySucceeded(t *testing.T) {
	b := bundle.Bundle{Root: t.TempDir(), Lab: "l", Scenario: "s", RunID: "r"}
	dir := b.Path(bundle.LogsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logs := `not json
{"time":"2026-01-01T00:00:01Z","msg":"claim","event_ids":["e1","e2","e3","e4"]}
{"time":"2026-01-01T00:00:02Z","msg":"ack","result":"done","outbox_event_id":"e1","http_status":201}
{"time":"2026-01-01T00:00:02Z","msg":"ack","result":"retry","outbox_event_id":"e2","http_status":429}
{"time":"2026-01-01T00:00:02Z","msg":"ack","result":"retry","outbox_event_id":"e3","http_status":201}
{"time":"2026-01-01T00:00:02Z","msg":"ack","result":"refused","outbox_event_id":"e4","http_status":201}
{"time":"2026-01-01T00:00:03Z","msg":"claim","event_ids":["e2","e4"]}
`
	other := `{"time":"2026-01-01T00:00:04Z","msg":"claim","event_ids":["e1","e2","e3"]}
`
	for name, body := range map[string]string{"projector-0.ndjson": logs, "projector-1.ndjson": other,
		ForwardLogFile: `{"msg":"claim","event_ids":["e2"]}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lines, err := componentLogs(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := resent(lines)
	if err != nil {
		t.Fatal(err)
	}
	// e1 was done and e3's item was written (yet retried): both were sent
	// again. e2 got a 429 and e4's ack was fenced: claiming them again is right.
	if want := []string{"e1", "e3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := resent(lines[1:5]); err == nil { // the acks alone
		t.Error("resent of logs without a claim line: got no error, want one (nothing can be judged)")
	}
	if _, err := componentLogs(bundle.Bundle{Root: t.TempDir(), Lab: "l", Scenario: "s", RunID: "r"}); err == nil {
		t.Error("componentLogs of a bundle without logs: got no error, want one")
	}
}
