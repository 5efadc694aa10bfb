package projector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"firedrill/outbox"
	"firedrill/outbox/outboxtest"
	"firedrill/outbox/sqlite"
	"firedrill/projector"
	"firedrill/search"
)

type want struct {
	status outbox.Status
	reason outbox.Reason
}

var (
	done       = want{outbox.StatusDone, ""}
	retry429   = want{outbox.StatusPending, outbox.ReasonES429}
	retry5xx   = want{outbox.StatusPending, outbox.ReasonES5xx}
	failed4xx  = want{outbox.StatusFailed, outbox.ReasonES4xx}
	itemErrors = []want{done /*409 stale*/, done /*delete 404*/, retry429, failed4xx /*403 block*/, failed4xx /*400 mapping*/, done}
)

// TestClassifyRecordedResponses drives the projector with bulk responses
// recorded from Elasticsearch 7, 8 and OpenSearch 2 (search/testdata/README.md
// says where each shape comes from) through the real client and a real store.
func TestClassifyRecordedResponses(t *testing.T) {
	cases := []struct {
		file   string
		status int
		want   []want
	}{
		{"es7_bulk_item_errors.json", 200, itemErrors},
		{"es8_bulk_item_errors.json", 200, itemErrors},
		{"os2_bulk_item_errors.json", 200, itemErrors},
		{"es7_bulk_429_rejected.json", 429, three(retry429)},
		{"es8_bulk_429_circuit_breaking.json", 429, three(retry429)},
		{"os2_bulk_429_rejected.json", 429, three(retry429)},
		{"es7_bulk_503_cluster_block.json", 503, three(retry5xx)},
		{"es8_bulk_503_master_not_discovered.json", 503, three(retry5xx)},
		{"legacy_503_string_error.json", 503, three(retry5xx)},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "search", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/_bulk" {
					return // index exists
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write(withRequestIDs(t, body, r))
			}))
			defer srv.Close()
			got, m := projectOnce(t, srv.URL, ops(body, len(tc.want)), projector.DefaultPolicy())
			for i, w := range tc.want {
				if got[i] != w {
					t.Errorf("item %d: got %s/%q, want %s/%q", i, got[i].status, got[i].reason, w.status, w.reason)
				}
			}
			if tc.status == 200 {
				if n := testutil.ToFloat64(m.Done.WithLabelValues(projector.ResultStale)); n != 2 {
					t.Errorf("done{stale}: got %v, want 2 (the 409, and the upsert superseded by the delete)", n)
				}
				if n := testutil.ToFloat64(m.Done.WithLabelValues(projector.ResultNotFound)); n != 1 {
					t.Errorf("done{not_found}: got %v, want 1 (the delete 404)", n)
				}
				if n := testutil.ToFloat64(m.BulkItems.WithLabelValues("4xx")); n != 5 {
					t.Errorf("bulk items 4xx: got %v, want 5", n)
				}
			}
		})
	}
}

// TestWrongPolicyIsHonoured proves --policy reaches the decision: with 429
// treated as done, a rejected item is (wrongly) acked, which drills detect.
func TestWrongPolicyIsHonoured(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_bulk" {
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"type":"es_rejected_execution_exception","reason":"injected"},"status":429}`))
		}
	}))
	defer srv.Close()
	wrong := projector.DefaultPolicy().Merge(projector.Policy{Classes: map[projector.Class]projector.Action{
		projector.Class429: {Action: projector.ActionDone}}})
	got, _ := projectOnce(t, srv.URL, []string{"index", "index"}, wrong)
	for i, g := range got {
		if g != done {
			t.Errorf("item %d: got %s, want done under the wrong policy", i, g.status)
		}
	}
}

// withRequestIDs answers a recorded bulk response for the request at hand:
// the recorded shapes keep everything but each item's _id, which takes the
// request's value in order.
func withRequestIDs(t *testing.T, body []byte, r *http.Request) []byte {
	var resp map[string]any
	if json.Unmarshal(body, &resp) != nil || resp["items"] == nil {
		return body // a whole-request error
	}
	raw, _ := io.ReadAll(r.Body)
	var ids []string
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var action map[string]map[string]any
		if json.Unmarshal(line, &action) != nil {
			continue
		}
		for op, a := range action {
			if op == "index" || op == "delete" || op == "create" || op == "update" {
				if id, ok := a["_id"].(string); ok {
					ids = append(ids, id)
				}
			}
		}
	}
	items := resp["items"].([]any)
	if len(items) != len(ids) {
		t.Errorf("recorded answer has %d items, request %d", len(items), len(ids))
		return body
	}
	for i, it := range items {
		for _, b := range it.(map[string]any) {
			b.(map[string]any)["_id"] = ids[i]
		}
	}
	out, _ := json.Marshal(resp)
	return out
}

func three(w want) []want { return []want{w, w, w} }

// ops lists the bulk op of each recorded item (index when the file has none).
func ops(body []byte, n int) []string {
	var resp struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	_ = json.Unmarshal(body, &resp)
	out := make([]string, n)
	for i := range out {
		out[i] = "index"
		if i < len(resp.Items) {
			for op := range resp.Items[i] {
				out[i] = op
			}
		}
	}
	return out
}

// projectOnce writes one entity per op (delete ops become deleted rows),
// runs one projector step against url and returns each entity's event state.
func projectOnce(t *testing.T, url string, ops []string, policy projector.Policy) ([]want, *projector.Metrics) {
	t.Helper()
	ctx := context.Background()
	store := outboxtest.SQLite().OpenFresh(t)
	var ups, dels []outbox.Change
	for i, op := range ops {
		id := fmt.Sprintf("e%02d", i)
		ups = append(ups, outbox.Change{EntityID: id, EntityType: "note", Title: "t", Op: outbox.OpUpsert})
		if op == "delete" {
			dels = append(dels, outbox.Change{EntityID: id, Op: outbox.OpDelete})
		}
	}
	if _, err := store.Write(ctx, append(ups, dels...)); err != nil {
		t.Fatal(err)
	}
	client, err := search.New(search.Config{URL: url, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p, m := newProjector(t, projector.Config{Policy: policy, BatchSize: 100}, store, client, nil)
	if n, err := p.Step(ctx, "w", rand.New(rand.NewPCG(1, 1))); err != nil || n != len(ups)+len(dels) {
		t.Fatalf("step: claimed %d, %v; want %d", n, err, len(ups)+len(dels))
	}
	rows, err := store.(*sqlite.Store).DB().QueryContext(ctx, `SELECT entity_id, status, coalesce(last_reason, '')
		FROM search_outbox_events ORDER BY entity_id, version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]want{}
	for rows.Next() {
		var id string
		var w want
		if err := rows.Scan(&id, &w.status, &w.reason); err != nil {
			t.Fatal(err)
		}
		if prev, ok := got[id]; ok && prev != w {
			t.Fatalf("entity %s: its events disagree: %v vs %v", id, prev, w)
		}
		got[id] = w
	}
	out := make([]want, len(ops))
	for i := range ops {
		out[i] = got[fmt.Sprintf("e%02d", i)]
	}
	return out, m
}
