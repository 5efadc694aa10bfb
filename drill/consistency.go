package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"firedrill/outbox"
	"firedrill/search"
)

// Snapshot is _consistency.json: the source rows of the run next to what
// the engine holds, taken after the drain. verify derives every
// consistency count from it, so the counts can be recomputed offline.
type Snapshot struct {
	Index string `json:"index"`
	// EngineCount is the number of documents in the run's index.
	EngineCount int64        `json:"engine_count"`
	Entities    []EntityView `json:"entities"`
	// DeadLetters are the run's failed events (listed, never dropped).
	DeadLetters []DeadLetter `json:"dead_letters"`
	// Pending and Processing count the events left unfinished.
	Pending    int64 `json:"pending"`
	Processing int64 `json:"processing"`
	Done       int64 `json:"done"`
	// Error says why the snapshot is incomplete (engine or database unreachable).
	Error string `json:"error,omitempty"`
}

// EntityView is one source row and the engine's copy of it.
type EntityView struct {
	ID            string `json:"id"`
	SourceVersion int64  `json:"source_version"`
	SourceDeleted bool   `json:"source_deleted"`
	SourceMissing bool   `json:"source_missing,omitempty"`
	EngineFound   bool   `json:"engine_found"`
	EngineVersion int64  `json:"engine_version,omitempty"`
}

// DeadLetter is one failed event of the run.
type DeadLetter struct {
	EventID  string `json:"event_id"`
	EntityID string `json:"entity_id"`
	Version  int64  `json:"version"`
	Reason   string `json:"reason"`
	Error    string `json:"error"`
}

// Counts are what consistency checks compare (scenario.ConsistencyFields).
type Counts struct {
	Lost         int `json:"lost"`
	Stale        int `json:"stale"`
	Ghost        int `json:"ghost"`
	DeadLettered int `json:"dead_lettered"`
	Pending      int `json:"pending"`
	Processing   int `json:"processing"`
	Duplicates   int `json:"duplicates"`
	// Examples name a few entities behind each non-zero count.
	Examples map[string][]string `json:"examples,omitempty"`
}

// Field returns the count named by a consistency check's field.
func (c Counts) Field(name string) (int, bool) {
	switch name {
	case "lost":
		return c.Lost, true
	case "stale":
		return c.Stale, true
	case "ghost":
		return c.Ghost, true
	case "dead_lettered":
		return c.DeadLettered, true
	case "pending":
		return c.Pending, true
	case "processing":
		return c.Processing, true
	case "duplicates":
		return c.Duplicates, true
	}
	return 0, false
}

// Count classifies every entity of the snapshot. A row is consistent when
// the engine holds it at its newest version (or, deleted, does not hold
// it); otherwise it is excused only by a dead letter of its newest version,
// which is listed. Unexcused rows are lost (missing from the engine, or
// missing from the source although the run wrote it), stale (an older
// version) or ghosts (a deleted row, or a version the source never had,
// still in the engine). resent are the events sent again after they
// succeeded (see resent).
func (s Snapshot) Count(resent []string) Counts {
	dead := map[string]bool{}
	for _, d := range s.DeadLetters {
		dead[fmt.Sprintf("%s@%d", d.EntityID, d.Version)] = true
	}
	c := Counts{DeadLettered: len(s.DeadLetters), Pending: int(s.Pending), Processing: int(s.Processing),
		Duplicates: len(resent), Examples: map[string][]string{}}
	add := func(field, id string) {
		if len(c.Examples[field]) < 5 {
			c.Examples[field] = append(c.Examples[field], id)
		}
	}
	found := 0
	for _, e := range s.Entities {
		if e.EngineFound {
			found++
		}
		switch {
		case e.SourceMissing:
			c.Lost++
			add("lost", e.ID+" (no source row)")
		case dead[fmt.Sprintf("%s@%d", e.ID, e.SourceVersion)]:
			continue
		case e.SourceDeleted && e.EngineFound:
			c.Ghost++
			add("ghost", e.ID)
		case e.SourceDeleted:
		case !e.EngineFound:
			c.Lost++
			add("lost", e.ID)
		case e.EngineVersion < e.SourceVersion:
			c.Stale++
			add("stale", e.ID)
		case e.EngineVersion > e.SourceVersion:
			c.Ghost++
			add("ghost", e.ID)
		}
	}
	if extra := int(s.EngineCount) - found; extra > 0 { // documents of no entity of the run
		c.Ghost += extra
		add("ghost", fmt.Sprintf("%d documents of no entity of the run", extra))
	}
	for _, d := range resent {
		add("duplicates", d)
	}
	for _, d := range s.DeadLetters {
		add("dead_lettered", d.EntityID+" ("+d.Reason+")")
	}
	if len(c.Examples) == 0 {
		c.Examples = nil
	}
	return c
}

// takeSnapshot reads the run's source rows, the engine's copies and the
// outbox.
func takeSnapshot(ctx context.Context, st outbox.Store, engine *search.Client, index string, ids []string) (Snapshot, error) {
	snap := Snapshot{Index: index}
	src, err := st.Sources(ctx, ids)
	if err != nil {
		return snap, fmt.Errorf("read source rows: %w", err)
	}
	if err := engine.Refresh(ctx, index); err != nil {
		return snap, fmt.Errorf("refresh %s: %w", index, err)
	}
	if snap.EngineCount, err = engine.Count(ctx, index); err != nil {
		return snap, fmt.Errorf("count %s: %w", index, err)
	}
	for _, id := range ids {
		v := EntityView{ID: id}
		if d, ok := src[id]; ok {
			v.SourceVersion, v.SourceDeleted = d.Version, d.Deleted
		} else {
			v.SourceMissing = true
		}
		doc, err := engine.Get(ctx, index, id)
		if err != nil {
			return snap, fmt.Errorf("get %s/%s: %w", index, id, err)
		}
		v.EngineFound, v.EngineVersion = doc.Found, doc.Version
		snap.Entities = append(snap.Entities, v)
	}
	inRun := map[string]bool{}
	for _, id := range ids {
		inRun[id] = true
	}
	failed, err := st.Failed(ctx, outbox.FailedFilter{})
	if err != nil {
		return snap, fmt.Errorf("list dead letters: %w", err)
	}
	for _, ev := range failed {
		if inRun[ev.EntityID] {
			snap.DeadLetters = append(snap.DeadLetters, DeadLetter{EventID: ev.ID, EntityID: ev.EntityID, Version: ev.Version,
				Reason: string(ev.LastReason), Error: ev.LastError})
		}
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		return snap, fmt.Errorf("outbox stats: %w", err)
	}
	snap.Pending, snap.Processing, snap.Done = stats.Counts[outbox.StatusPending], stats.Counts[outbox.StatusProcessing], stats.Counts[outbox.StatusDone]
	return snap, nil
}

// resent reads the components' JSON log lines (DESIGN.md: a line per
// claim with its event_ids, a line per ack with outbox_event_id, result and
// the engine's http_status) and names every event claimed again after it
// succeeded: after an ack marked it done, or after an ack reported a 2xx
// answer for its item (a worker that retries successful items). A fenced
// ack (result=refused: the lease was lost) is no success of its own. Logs
// with no claim line at all cannot tell, which is an error.
func resent(logs [][]byte) ([]string, error) {
	type line struct {
		Time       time.Time `json:"time"`
		Msg        string    `json:"msg"`
		Result     string    `json:"result"`
		HTTPStatus int       `json:"http_status"`
		EventID    string    `json:"outbox_event_id"`
		EventIDs   []string  `json:"event_ids"`
	}
	var lines []line
	claims := 0
	for _, b := range logs {
		if !bytes.Contains(b, []byte(`"msg":"claim"`)) && !bytes.Contains(b, []byte(`"msg":"ack"`)) {
			continue
		}
		var l line
		if json.Unmarshal(b, &l) == nil {
			lines = append(lines, l)
			if l.Msg == "claim" {
				claims++
			}
		}
	}
	if claims == 0 {
		return nil, errors.New("no claim log lines (msg=claim with event_ids) in the bundle: cannot tell which events were sent again")
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Time.Before(lines[j].Time) })
	succeeded := map[string]bool{}
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		switch {
		case l.Msg == "ack" && (l.Result == "done" || (l.HTTPStatus/100 == 2 && l.Result != "refused")):
			succeeded[l.EventID] = true
		case l.Msg == "claim":
			for _, id := range l.EventIDs {
				if succeeded[id] && !seen[id] {
					seen[id] = true
					out = append(out, id)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
