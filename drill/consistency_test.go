package drill

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
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
		{"a dead letter excuses, and is counted", Snapshot{Entities: []EntityView{ent("a", 2, false, false, 0)},
			DeadLetters: []DeadLetter{{EntityID: "a", Reason: "es_4xx"}}}, Counts{DeadLettered: 1}},
		{"left and resent", Snapshot{Pending: 2, Processing: 1, Duplicates: []string{"e1"}}, Counts{Pending: 2, Processing: 1, Duplicates: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.snap.Count()
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

func TestResentFindsEventsClaimedAfterDone(t *testing.T) {
	dir := t.TempDir()
	logs := `not json
{"time":"2026-01-01T00:00:01Z","msg":"claim","event_ids":["e1","e2"]}
{"time":"2026-01-01T00:00:02Z","msg":"ack","result":"done","outbox_event_id":"e1"}
{"time":"2026-01-01T00:00:02Z","msg":"ack","result":"retry","outbox_event_id":"e2"}
{"time":"2026-01-01T00:00:03Z","msg":"claim","event_ids":["e2"]}
`
	other := `{"time":"2026-01-01T00:00:04Z","msg":"claim","event_ids":["e1","e2"]}
`
	for name, body := range map[string]string{"projector-0.ndjson": logs, "projector-1.ndjson": other,
		ForwardLogFile: `{"msg":"claim","event_ids":["e2"]}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := resent(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"e1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v (e2 was retried, not done, so claiming it again is right)", got, want)
	}
}
