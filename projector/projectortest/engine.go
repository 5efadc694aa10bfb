// Package projectortest has an in-memory engine with Elasticsearch's
// external-versioning semantics, for projector tests that need to count
// every write exactly. It is test scaffolding: end-to-end tests against
// real engines (searchd, OpenSearch) live with those engines.
package projectortest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"firedrill/search"
)

// Write is one item the engine applied.
type Write struct {
	Op, Index, ID string
	Version       int64
}

// Engine stores the newest version per document and every applied write.
type Engine struct {
	mu       sync.Mutex
	versions map[string]int64 // index/id -> version (tombstones included)
	live     map[string]bool
	writes   []Write
	// Before, when set, runs before each bulk request; an error fails the
	// whole request as a connection error.
	Before func(ctx context.Context, items []search.BulkItem) error
	// EnsureErr, when set, fails every EnsureIndex call.
	EnsureErr error
	ensures   int
}

// New returns an empty engine.
func New() *Engine {
	return &Engine{versions: map[string]int64{}, live: map[string]bool{}}
}

// EnsureIndex accepts any index (or fails with EnsureErr) and counts calls.
func (e *Engine) EnsureIndex(context.Context, string, []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ensures++
	return e.EnsureErr
}

// EnsureCalls is how many times EnsureIndex was called.
func (e *Engine) EnsureCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ensures
}

// Bulk applies items with external versioning.
func (e *Engine) Bulk(ctx context.Context, items []search.BulkItem, _ string) (search.BulkResult, error) {
	if e.Before != nil {
		if err := e.Before(ctx, items); err != nil {
			return search.BulkResult{}, &search.Error{Kind: search.KindConnect, Op: "bulk", Err: err}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	res := search.BulkResult{Items: make([]search.ItemResult, len(items))}
	for i, it := range items {
		key := it.Index + "/" + it.ID
		r := search.ItemResult{Op: it.Op, Index: it.Index, ID: it.ID}
		cur, seen := e.versions[key]
		switch {
		case seen && cur >= it.Version:
			r.Status, r.ErrorType, r.Version = 409, "version_conflict_engine_exception", cur
			res.Errors = true
		case it.Op == "delete" && !e.live[key]:
			e.versions[key] = it.Version
			r.Status, r.Result, r.Version = 404, "not_found", it.Version
		case it.Op == "delete":
			e.versions[key], e.live[key] = it.Version, false
			r.Status, r.Result, r.Version = 200, "deleted", it.Version
			e.writes = append(e.writes, Write{it.Op, it.Index, it.ID, it.Version})
		default:
			r.Status, r.Result = 201, "created"
			if e.live[key] {
				r.Status, r.Result = 200, "updated"
			}
			e.versions[key], e.live[key] = it.Version, true
			r.Version = it.Version
			e.writes = append(e.writes, Write{it.Op, it.Index, it.ID, it.Version})
		}
		res.Items[i] = r
	}
	return res, nil
}

// Writes returns a copy of every applied write.
func (e *Engine) Writes() []Write {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Write(nil), e.writes...)
}

// Doc returns the live version of index/id, or false.
func (e *Engine) Doc(index, id string) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := index + "/" + id
	return e.versions[key], e.live[key]
}

// ServeHTTP speaks the part of the REST API the projector uses: HEAD and
// PUT /{index}, and POST /_bulk.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		items, err := parseBulk(r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":{"type":"parse_exception","reason":%q},"status":400}`, err.Error())
			return
		}
		res, err := e.Bulk(r.Context(), items, "")
		if err != nil {
			panic(http.ErrAbortHandler) // drop the connection
		}
		out := map[string]any{"took": 1, "errors": res.Errors}
		list := make([]map[string]any, len(res.Items))
		for i, it := range res.Items {
			body := map[string]any{"_index": it.Index, "_id": it.ID, "_version": it.Version, "status": it.Status}
			if it.ErrorType != "" {
				body["error"] = map[string]any{"type": it.ErrorType, "reason": "version conflict"}
			} else {
				body["result"] = it.Result
			}
			list[i] = map[string]any{it.Op: body}
		}
		out["items"] = list
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodHead || r.Method == http.MethodPut:
		_, _ = w.Write([]byte(`{"acknowledged":true}`))
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":"unsupported %s %s"},"status":400}`, r.Method, r.URL.Path)
	}
}

func parseBulk(r *http.Request) ([]search.BulkItem, error) {
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var items []search.BulkItem
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var action map[string]struct {
			Index       string `json:"_index"`
			ID          string `json:"_id"`
			Version     int64  `json:"version"`
			VersionType string `json:"version_type"`
		}
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			return nil, fmt.Errorf("bad action line %q", line)
		}
		for op, a := range action {
			items = append(items, search.BulkItem{Op: op, Index: a.Index, ID: a.ID, Version: a.Version, VersionType: a.VersionType})
			if op != "delete" && !sc.Scan() {
				return nil, fmt.Errorf("%s action without a source line", strings.ToUpper(op))
			}
		}
	}
	return items, sc.Err()
}
