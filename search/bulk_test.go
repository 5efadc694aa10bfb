package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// dummyItems returns n valid items; the recorded answers are matched by
// position, not by id.
func dummyItems(n int) []BulkItem {
	items := make([]BulkItem, n)
	for i := range items {
		items[i] = BulkItem{Op: "index", Index: "i", ID: "x", Doc: map[string]int{"n": i}}
	}
	return items
}

// serveFile answers every _bulk with status and the named testdata file.
func serveFile(t *testing.T, status int, name string) string {
	body := readTestdata(t, name)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
			t.Errorf("request %s %s: want POST /_bulk", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type: got %q, want application/x-ndjson", ct)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	return srv.URL
}

func TestBulkRecordedResponses(t *testing.T) {
	conflict := func(idx, id, reason string) ItemResult {
		return ItemResult{Op: "index", Index: idx, ID: id, Status: 409, ErrorType: "version_conflict_engine_exception", ErrorReason: reason}
	}
	block := func(idx, id string) ItemResult {
		return ItemResult{Op: "index", Index: idx, ID: id, Status: 403, ErrorType: "cluster_block_exception",
			ErrorReason: "index [" + idx + "] blocked by: [FORBIDDEN/8/index write (api)];"}
	}
	tests := []struct {
		file       string
		took       int
		errors     bool
		want       []ItemResult
		wantReason map[int]string // prefix of ErrorReason where the full text is long
	}{
		{file: "es7_bulk_mixed.json", took: 30, want: []ItemResult{
			{Op: "index", Index: "test", ID: "1", Status: 201, Version: 1, Result: "created"},
			{Op: "delete", Index: "test", ID: "2", Status: 404, Version: 1, Result: "not_found"},
			{Op: "create", Index: "test", ID: "3", Status: 201, Version: 1, Result: "created"},
			{Op: "update", Index: "test", ID: "1", Status: 200, Version: 2, Result: "updated"},
		}},
		{file: "es8_bulk_mixed.json", took: 30, want: []ItemResult{
			{Op: "index", Index: "test", ID: "1", Status: 201, Version: 1, Result: "created"},
			{Op: "delete", Index: "test", ID: "2", Status: 404, Version: 1, Result: "not_found"},
			{Op: "create", Index: "test", ID: "3", Status: 201, Version: 1, Result: "created"},
			{Op: "update", Index: "test", ID: "1", Status: 200, Version: 2, Result: "updated"},
		}},
		{file: "os2_bulk_mixed.json", took: 35, want: []ItemResult{
			{Op: "delete", Index: "movies", ID: "tt2229499", Status: 404, Version: 1, Result: "not_found"},
			{Op: "index", Index: "movies", ID: "tt1979320", Status: 201, Version: 1, Result: "created"},
			{Op: "create", Index: "movies", ID: "tt1392214", Status: 201, Version: 1, Result: "created"},
			{Op: "update", Index: "movies", ID: "tt0816711", Status: 200, Version: 2, Result: "updated"},
		}},
		{file: "es7_bulk_failures.json", took: 486, errors: true, want: []ItemResult{
			{Op: "update", Index: "index1", ID: "5", Status: 404, ErrorType: "document_missing_exception", ErrorReason: "[_doc][5]: document missing"},
			{Op: "update", Index: "index1", ID: "6", Status: 404, ErrorType: "document_missing_exception", ErrorReason: "[_doc][6]: document missing"},
			{Op: "create", Index: "index1", ID: "7", Status: 201, Version: 1, Result: "created"},
		}},
		{file: "os2_bulk_failures.json", took: 9, errors: true, want: []ItemResult{
			{Op: "update", Index: "movies", ID: "nonexistent1", Status: 404, ErrorType: "document_missing_exception", ErrorReason: "[nonexistent1]: document missing"},
		}},
		{file: "es7_bulk_item_errors.json", took: 12, errors: true, want: []ItemResult{
			conflict("products", "10", "[10]: version conflict, current version [5] is higher or equal to the one provided [3]"),
			{Op: "delete", Index: "products", ID: "11", Status: 404, Version: 4, Result: "not_found"},
			{Op: "index", Index: "products", ID: "12", Status: 429, ErrorType: "es_rejected_execution_exception"},
			block("audit", "13"),
			{Op: "index", Index: "products", ID: "14", Status: 400, ErrorType: "mapper_parsing_exception",
				ErrorReason: "failed to parse field [price] of type [long] in document with id '14'. Preview of field's value: 'cheap'"},
			{Op: "index", Index: "products", ID: "15", Status: 201, Version: 2, Result: "created"},
		}, wantReason: map[int]string{2: "rejected execution of org.elasticsearch.action.support.replication.TransportWriteAction"}},
		{file: "es8_bulk_item_errors.json", took: 9, errors: true, want: []ItemResult{
			conflict("products", "10", "[10]: version conflict, current version [5] is higher or equal to the one provided [3]"),
			{Op: "delete", Index: "products", ID: "11", Status: 404, Version: 4, Result: "not_found"},
			{Op: "index", Index: "products", ID: "12", Status: 429, ErrorType: "es_rejected_execution_exception"},
			block("audit", "13"),
			{Op: "index", Index: "products", ID: "14", Status: 400, ErrorType: "document_parsing_exception",
				ErrorReason: "[1:27] failed to parse field [price] of type [long] in document with id '14'. Preview of field's value: 'cheap'"},
			{Op: "index", Index: "products", ID: "15", Status: 201, Version: 2, Result: "created"},
		}, wantReason: map[int]string{2: "rejected execution of primary operation ["}},
		{file: "os2_bulk_item_errors.json", took: 14, errors: true, want: []ItemResult{
			conflict("movies", "tt0468569", "[tt0468569]: version conflict, current version [7] is higher or equal to the one provided [6]"),
			{Op: "delete", Index: "movies", ID: "tt2229499", Status: 404, Version: 3, Result: "not_found"},
			{Op: "index", Index: "movies", ID: "tt0137523", Status: 429, ErrorType: "rejected_execution_exception"},
			block("movies-archive", "tt1375666"),
			{Op: "index", Index: "movies", ID: "tt0816692", Status: 400, ErrorType: "mapper_parsing_exception",
				ErrorReason: "failed to parse field [year] of type [integer] in document with id 'tt0816692'. Preview of field's value: 'twenty-fourteen'"},
			{Op: "index", Index: "movies", ID: "tt1979320", Status: 200, Version: 8, Result: "updated"},
		}, wantReason: map[int]string{2: "rejected execution of org.opensearch.action.support.replication.TransportWriteAction"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := newClient(t, Config{URL: serveFile(t, http.StatusOK, tt.file)})
			res, err := c.Bulk(t.Context(), dummyItems(len(tt.want)), "")
			if err != nil {
				t.Fatalf("Bulk: got error %v, want nil (errors:true is not an error)", err)
			}
			if res.Took != tt.took || res.Errors != tt.errors {
				t.Errorf("took, errors: got %d, %v, want %d, %v", res.Took, res.Errors, tt.took, tt.errors)
			}
			if len(res.Items) != len(tt.want) {
				t.Fatalf("items: got %d, want %d", len(res.Items), len(tt.want))
			}
			for i, got := range res.Items {
				if prefix, ok := tt.wantReason[i]; ok {
					if !strings.HasPrefix(got.ErrorReason, prefix) {
						t.Errorf("item %d reason: got %q, want prefix %q", i, got.ErrorReason, prefix)
					}
					got.ErrorReason = ""
				}
				if got != tt.want[i] {
					t.Errorf("item %d:\n got %+v\nwant %+v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestBulkWholeRequestErrors(t *testing.T) {
	tests := []struct {
		name, file   string
		status       int
		wantType     string
		reasonPrefix string
	}{
		{"es7 429 indexing pressure", "es7_bulk_429_rejected.json", 429, "es_rejected_execution_exception", "rejected execution of coordinating operation ["},
		{"es8 429 circuit breaker", "es8_bulk_429_circuit_breaking.json", 429, "circuit_breaking_exception", "[parent] Data too large, data for [<http_request>]"},
		{"os2 429 indexing pressure", "os2_bulk_429_rejected.json", 429, "rejected_execution_exception", "rejected execution of coordinating operation ["},
		{"es7 503 state not recovered", "es7_bulk_503_cluster_block.json", 503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"},
		{"es8 503 reason null", "es8_bulk_503_master_not_discovered.json", 503, "master_not_discovered_exception", ""},
		{"error as a string", "legacy_503_string_error.json", 503, "", "MasterNotDiscoveredException[waited for [30s]]"},
		{"proxy html page", "proxy_502.html", 502, "", "<html> <head><title>502 Bad Gateway</title></head>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{URL: serveFile(t, tt.status, tt.file)})
			_, err := c.Bulk(t.Context(), dummyItems(2), "")
			e := asError(t, err)
			if e.Kind != KindStatus || e.Status != tt.status || e.Op != "bulk" {
				t.Errorf("kind, status, op: got %v, %d, %q, want status, %d, bulk", e.Kind, e.Status, e.Op, tt.status)
			}
			if e.Type != tt.wantType {
				t.Errorf("type: got %q, want %q", e.Type, tt.wantType)
			}
			if !strings.HasPrefix(e.Reason, tt.reasonPrefix) {
				t.Errorf("reason: got %q, want prefix %q", e.Reason, tt.reasonPrefix)
			}
		})
	}
}

func TestBulkStatusWithoutBody(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})
	_, err := newClient(t, Config{URL: srv.URL}).Bulk(t.Context(), dummyItems(1), "")
	e := asError(t, err)
	if e.Kind != KindStatus || e.Status != 413 || e.Reason != "Request Entity Too Large" || e.RetryAfter.Seconds() != 7 {
		t.Errorf("got %v %d %q %s, want status 413 %q 7s", e.Kind, e.Status, e.Reason, e.RetryAfter, "Request Entity Too Large")
	}
}

func TestBulkProtocolErrors(t *testing.T) {
	tests := []struct {
		name, body string
		sent       int
	}{
		{"fewer items than sent", `{"took":1,"errors":false,"items":[{"index":{"_index":"i","_id":"1","status":201}}]}`, 2},
		{"more items than sent", `{"took":1,"errors":false,"items":[{"index":{"status":201}},{"index":{"status":201}}]}`, 1},
		{"not json", `<html>ok</html>`, 1},
		{"truncated json", `{"took":1,"errors":false,"items":[{"index":{`, 1},
		{"item without status", `{"took":7,"errors":false,"items":[{"index":{"_index":"test","_type":"_doc","_id":"1","_version":1,"result":"created"}}]}`, 1},
		{"item with two ops", `{"took":1,"errors":false,"items":[{"index":{"status":201},"delete":{"status":200}}]}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, tt.body) })
			_, err := newClient(t, Config{URL: srv.URL}).Bulk(t.Context(), dummyItems(tt.sent), "")
			if e := asError(t, err); e.Kind != KindProtocol || e.Status != 200 {
				t.Errorf("kind, status: got %v, %d, want protocol, 200 (%v)", e.Kind, e.Status, err)
			}
		})
	}
}

// TestBulkRequestBody checks the NDJSON sent for external versioning
// against testdata/bulk_request.golden.ndjson (rewrite with -update).
func TestBulkRequestBody(t *testing.T) {
	type sent struct {
		body  []byte
		query string
	}
	seen := make(chan sent, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- sent{b, r.URL.RawQuery}
		_, _ = io.WriteString(w, `{"took":1,"errors":false,"items":[`+strings.Repeat(`{"index":{"status":201}},`, 4)+`{"index":{"status":201}}]}`)
	})
	items := []BulkItem{
		{Op: "index", Index: "docs-run1", ID: "article:1", Version: 3, VersionType: "external", Doc: map[string]any{"title": "line\nbreak", "version": 3}},
		{Op: "delete", Index: "docs-run1", ID: "article:2", Version: 4, VersionType: "external"},
		{Op: "index", Index: "docs-run1", ID: "article/3", Version: 5, VersionType: "external_gte", Doc: json.RawMessage("{\n  \"title\": \"raw\"\n}")},
		{Op: "create", Index: "docs-run1", ID: "article:4", Doc: []byte(`{"title":"bytes"}`)},
		{Op: "update", Index: "docs-run1", ID: "article:5", Doc: map[string]any{"doc": map[string]int{"views": 9}}},
	}
	if _, err := newClient(t, Config{URL: srv.URL}).Bulk(t.Context(), items, "wait_for"); err != nil {
		t.Fatalf("Bulk: got error %v, want nil", err)
	}
	req := <-seen
	got, query := req.body, req.query
	if query != "refresh=wait_for" {
		t.Errorf("query: got %q, want refresh=wait_for", query)
	}
	if !bytes.HasSuffix(got, []byte("}\n")) {
		t.Errorf("body end: got %q, want a trailing newline", got[max(0, len(got)-10):])
	}
	golden := filepath.Join("testdata", "bulk_request.golden.ndjson")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readTestdata(t, "bulk_request.golden.ndjson"); !bytes.Equal(got, want) {
		t.Errorf("bulk body:\n got %s\nwant %s", got, want)
	}
}

func TestBulkInvalidItemsSendNothing(t *testing.T) {
	tests := []struct {
		name string
		item BulkItem
	}{
		{"unknown op", BulkItem{Op: "upsert", Index: "i", ID: "1", Doc: 1}},
		{"no index", BulkItem{Op: "index", ID: "1", Doc: 1}},
		{"delete without id", BulkItem{Op: "delete", Index: "i"}},
		{"index without doc", BulkItem{Op: "index", Index: "i", ID: "1"}},
		{"bad version type", BulkItem{Op: "index", Index: "i", ID: "1", Doc: 1, VersionType: "internal"}},
		{"versioned update", BulkItem{Op: "update", Index: "i", ID: "1", Doc: 1, Version: 2}},
		{"raw doc not json", BulkItem{Op: "index", Index: "i", ID: "1", Doc: json.RawMessage(`{"a":`)}},
	}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent: got %s %s, want none", r.Method, r.URL)
	})
	c := newClient(t, Config{URL: srv.URL})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Bulk(t.Context(), []BulkItem{tt.item}, "")
			var e *Error
			if err == nil || errors.As(err, &e) {
				t.Errorf("got %v, want a plain (non-*Error) error", err)
			}
		})
	}
	if res, err := c.Bulk(t.Context(), nil, ""); err != nil || len(res.Items) != 0 {
		t.Errorf("empty bulk: got %+v, %v, want no items and nil", res, err)
	}
	if _, err := c.Bulk(t.Context(), dummyItems(1), "now"); err == nil {
		t.Errorf("refresh \"now\": got nil error, want one")
	}
}

func TestBulkDoesNotFollowRedirects(t *testing.T) {
	var hits atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/elsewhere/_bulk", http.StatusTemporaryRedirect)
	})
	_, err := newClient(t, Config{URL: srv.URL}).Bulk(t.Context(), dummyItems(1), "")
	e := asError(t, err)
	if e.Kind != KindStatus || e.Status != http.StatusTemporaryRedirect || hits.Load() != 1 {
		t.Errorf("got %v %d after %d requests, want status 307 after 1", e.Kind, e.Status, hits.Load())
	}
	if !strings.Contains(e.Reason, "/elsewhere/_bulk") {
		t.Errorf("reason: got %q, want the Location", e.Reason)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("refresh") == "true" {
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write(readTestdata(t, "es7_bulk_429_rejected.json"))
			return
		}
		_, _ = w.Write(readTestdata(t, "os2_bulk_failures.json"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(t, Config{URL: srv.URL})
	for i, refresh := range []string{"", "true", "", "true"} {
		_, err := c.Bulk(context.Background(), dummyItems(1), refresh)
		if (err != nil) != (refresh == "true") {
			t.Fatalf("bulk %d: got error %v", i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("connections: got %d, want 1 (bodies drained, keep-alive)", n)
	}
}

func TestItemErrorAsString(t *testing.T) {
	got, err := parseBulk([]byte(`{"took":1,"errors":true,"items":[{"index":{"_index":"i","_id":"1","status":400,"error":"MapperParsingException[failed to parse]"}}]}`), 1)
	want := []ItemResult{{Op: "index", Index: "i", ID: "1", Status: 400, ErrorReason: "MapperParsingException[failed to parse]"}}
	if err != nil || !reflect.DeepEqual(got.Items, want) {
		t.Errorf("got %+v, %v, want %+v, nil", got.Items, err, want)
	}
}
