package searchd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"firedrill/searchd"
)

// node is a searchd Node served over HTTP for one test.
type node struct {
	t   *testing.T
	n   *searchd.Node
	srv *httptest.Server
}

func openNode(t *testing.T, dir string) *node {
	t.Helper()
	n, err := searchd.Open(searchd.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	s := httptest.NewServer(n.Handler())
	nd := &node{t: t, n: n, srv: s}
	t.Cleanup(func() { nd.close() })
	return nd
}

func (nd *node) close() {
	if nd.srv == nil {
		return
	}
	nd.srv.Close()
	nd.srv = nil
	if err := nd.n.Close(); err != nil {
		nd.t.Errorf("close: %v", err)
	}
}

// do sends a request and decodes the JSON answer (nil for HEAD).
func (nd *node) do(method, path, body string) (int, map[string]any) {
	nd.t.Helper()
	return nd.doURL(nd.srv.URL, method, path, body)
}

// doURL is do against the node at base.
func (nd *node) doURL(base, method, path, body string) (int, map[string]any) {
	nd.t.Helper()
	req, err := http.NewRequestWithContext(nd.t.Context(), method, base+path, strings.NewReader(body))
	if err != nil {
		nd.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if strings.HasSuffix(path, "_bulk") || strings.Contains(path, "_bulk?") {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		nd.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		nd.t.Fatal(err)
	}
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			nd.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, out
}

func (nd *node) must(want int, method, path, body string) map[string]any {
	nd.t.Helper()
	got, out := nd.do(method, path, body)
	if got != want {
		nd.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, want, out)
	}
	return out
}

func extIndex(index, id string, version int64, title string) string {
	return fmt.Sprintf(`{"index":{"_index":%q,"_id":%q,"version":%d,"version_type":"external"}}`+"\n"+`{"title":%q,"version":%d}`+"\n",
		index, id, version, title, version)
}

func extDelete(index, id string, version int64) string {
	return fmt.Sprintf(`{"delete":{"_index":%q,"_id":%q,"version":%d,"version_type":"external"}}`+"\n", index, id, version)
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// TestDataSurvivesRestart: documents, versions, tombstones, settings and
// aliases written before Close are there after a reopen, and search sees
// them without a new write.
func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a := openNode(t, dir)
	a.must(200, "PUT", "/books", `{"settings":{"index":{"refresh_interval":"-1"}},"mappings":{"properties":{"title":{"type":"text"},"version":{"type":"long"}}}}`)
	bulk := extIndex("books", "1", 5, "first edition") + extIndex("books", "2", 3, "second") + extDelete("books", "2", 7) + extIndex("books", "3", 1, "third")
	if out := a.must(200, "POST", "/_bulk?refresh=true", bulk); out["errors"] != false {
		t.Fatalf("bulk errors: %v", out)
	}
	a.must(200, "PUT", "/books/_settings", `{"index":{"blocks":{"write":true}}}`)
	a.must(200, "POST", "/_aliases", `{"actions":[{"add":{"index":"books","alias":"library"}}]}`)
	a.close()

	b := openNode(t, dir)
	doc := b.must(200, "GET", "/library/_doc/1", "")
	if doc["found"] != true || num(doc["_version"]) != 5 || doc["_index"] != "books" {
		t.Fatalf("doc 1 after restart: %v", doc)
	}
	if src, _ := doc["_source"].(map[string]any); src["title"] != "first edition" {
		t.Fatalf("doc 1 source after restart: %v", doc["_source"])
	}
	if got := b.must(404, "GET", "/books/_doc/2", ""); got["found"] != false {
		t.Fatalf("deleted doc 2 after restart: %v", got)
	}
	if c := b.must(200, "GET", "/books/_count", ""); num(c["count"]) != 2 {
		t.Fatalf("count after restart: %v, want 2", c)
	}
	// The write block persisted.
	_, out := b.do("POST", "/_bulk", extIndex("books", "4", 1, "blocked"))
	if items, _ := out["items"].([]any); len(items) != 1 || out["errors"] != true {
		t.Fatalf("write to a blocked index after restart: %v", out)
	}
	b.must(200, "PUT", "/books/_settings", `{"index":{"blocks":{"write":false}}}`)
	// The tombstone of doc 2 (version 7) persisted: an older version is refused.
	out = b.must(200, "POST", "/_bulk", extIndex("books", "2", 6, "resurrected"))
	item := out["items"].([]any)[0].(map[string]any)["index"].(map[string]any)
	if num(item["status"]) != 409 {
		t.Fatalf("stale write over a persisted tombstone: %v, want 409", item)
	}
	// A newer version is accepted, and the version counter resumes.
	out = b.must(200, "POST", "/_bulk", extIndex("books", "1", 6, "revised"))
	item = out["items"].([]any)[0].(map[string]any)["index"].(map[string]any)
	if num(item["status"]) != 200 || num(item["_version"]) != 6 {
		t.Fatalf("newer version after restart: %v", item)
	}
}

// TestDataDirIsLocked: a second node on the same directory is refused
// while the first holds it, and accepted once it closed.
func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	a := openNode(t, dir)
	if _, err := searchd.Open(searchd.Config{DataDir: dir}); !errors.Is(err, searchd.ErrDataDirInUse) {
		t.Fatalf("second open: %v, want ErrDataDirInUse", err)
	}
	a.close()
	openNode(t, dir)
	if _, err := searchd.Open(searchd.Config{}); err == nil {
		t.Fatal("open without a data dir succeeded")
	}
}

// TestConcurrentExternalVersions: many writers race on the same ids with
// external versions; the engine ends at each id's highest version, every
// lower write is either applied before it or refused with 409, and the
// number of accepted writes per id never exceeds the number of distinct
// versions written.
func TestConcurrentExternalVersions(t *testing.T) {
	nd := openNode(t, t.TempDir())
	nd.must(200, "PUT", "/race", `{}`)
	const ids, versions, writers = 20, 30, 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for w := range writers {
		wg.Go(func() {
			// Each writer sends every version of every id, in its own order.
			var b strings.Builder
			for v := range versions {
				ver := int64((v*7+w*11)%versions + 1)
				for i := range ids {
					b.WriteString(extIndex("race", fmt.Sprint(i), ver, fmt.Sprintf("v%d", ver)))
				}
			}
			_, out := nd.do("POST", "/_bulk", b.String())
			items, _ := out["items"].([]any)
			if len(items) != ids*versions {
				t.Errorf("writer %d: %d items, want %d", w, len(items), ids*versions)
				return
			}
			for _, it := range items {
				r := it.(map[string]any)["index"].(map[string]any)
				switch num(r["status"]) {
				case 200, 201:
					mu.Lock()
					accepted[r["_id"].(string)]++
					mu.Unlock()
				case 409:
				default:
					t.Errorf("writer %d: unexpected item %v", w, r)
				}
			}
		})
	}
	wg.Wait()
	for i := range ids {
		id := fmt.Sprint(i)
		doc := nd.must(200, "GET", "/race/_doc/"+id, "")
		if num(doc["_version"]) != versions {
			t.Errorf("id %s at version %v, want %d", id, doc["_version"], versions)
		}
		if src, _ := doc["_source"].(map[string]any); src["title"] != fmt.Sprintf("v%d", versions) {
			t.Errorf("id %s source %v, want the newest", id, doc["_source"])
		}
		if accepted[id] < 1 || accepted[id] > versions {
			t.Errorf("id %s: %d accepted writes, want 1..%d", id, accepted[id], versions)
		}
	}
	nd.must(200, "POST", "/race/_refresh", "")
	if c := nd.must(200, "GET", "/race/_count", ""); num(c["count"]) != ids {
		t.Fatalf("count %v, want %d", c["count"], ids)
	}
}
