package conformance

import (
	"net/http"
	"strings"
	"time"
)

func bulkCases() []Case {
	return []Case{
		{Name: "bulk/external create", Run: func(c *client) {
			name := c.createIndex("extc", nil)
			r := c.bulk("/_bulk", ext("index", name, "a", 3), doc("a", 3), ext("index", name, "b", 1), doc("b", 1))
			c.check(r, "errors", at(r.body, "errors"), false)
			if num(at(r.body, "took")) < 0 {
				c.t.Errorf("took is missing: %s", excerpt(r.raw))
			}
			for i, v := range []int64{3, 1} {
				it := item(r, i)
				c.check(r, "status", num(at(it, "status")), 201)
				c.check(r, "result", at(it, "result"), "created")
				c.check(r, "_version", num(at(it, "_version")), v)
				c.check(r, "_index", at(it, "_index"), name)
			}
			c.check(r, "_id", at(item(r, 1), "_id"), "b")
		}},
		{Name: "bulk/external stale and newer", Run: func(c *client) {
			name := c.createIndex("exts", nil)
			c.bulk("/_bulk", ext("index", name, "a", 5), doc("a", 5))
			r := c.bulk("/_bulk",
				ext("index", name, "a", 4), doc("a", 4), // older: conflict
				ext("index", name, "a", 5), doc("a", 5), // same: conflict for external
				ext("index", name, "b", 1), doc("b", 1), // unrelated: applies
				ext("index", name, "a", 7), doc("a", 7)) // newer: applies
			c.check(r, "errors", at(r.body, "errors"), true)
			for _, i := range []int{0, 1} {
				it := item(r, i)
				c.check(r, "stale status", num(at(it, "status")), 409)
				c.check(r, "stale error.type", at(it, "error", "type"), "version_conflict_engine_exception")
				if !strings.Contains(str(at(it, "error", "reason")), "version conflict") {
					c.t.Errorf("stale reason: %v", at(it, "error", "reason"))
				}
			}
			c.check(r, "b status", num(at(item(r, 2), "status")), 201)
			c.check(r, "newer status", num(at(item(r, 3), "status")), 200)
			c.check(r, "newer result", at(item(r, 3), "result"), "updated")
			c.check(r, "newer _version", num(at(item(r, 3), "_version")), 7)
			g := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_doc/a", nil)
			c.check(g, "stored _version", num(at(g.body, "_version")), 7)
			c.check(g, "stored source version", num(at(g.body, "_source", "version")), 7)
		}},
		{Name: "bulk/external_gte", Run: func(c *client) {
			name := c.createIndex("gte", nil)
			c.bulk("/_bulk", ext("index", name, "a", 2), doc("a", 2))
			gte := func(v int64) map[string]any {
				return map[string]any{"index": map[string]any{"_index": name, "_id": "a", "version": v, "version_type": "external_gte"}}
			}
			r := c.bulk("/_bulk", gte(2), doc("a", 2, "title", "same version"), gte(1), doc("a", 1))
			c.check(r, "equal status", num(at(item(r, 0), "status")), 200)
			c.check(r, "equal result", at(item(r, 0), "result"), "updated")
			c.check(r, "older status", num(at(item(r, 1), "status")), 409)
		}},
		{Name: "bulk/delete", Run: func(c *client) {
			name := c.createIndex("del", nil)
			c.bulk("/_bulk", ext("index", name, "a", 3), doc("a", 3))
			r := c.bulk("/_bulk", ext("delete", name, "a", 2), ext("delete", name, "a", 4))
			c.check(r, "older delete status", num(at(item(r, 0), "status")), 409)
			c.check(r, "older delete error.type", at(item(r, 0), "error", "type"), "version_conflict_engine_exception")
			c.check(r, "delete status", num(at(item(r, 1), "status")), 200)
			c.check(r, "delete result", at(item(r, 1), "result"), "deleted")
			c.check(r, "delete _version", num(at(item(r, 1), "_version")), 4)
			g := c.want(http.StatusNotFound, http.MethodGet, "/"+name+"/_doc/a", nil)
			c.check(g, "found", at(g.body, "found"), false)
		}},
		{Name: "bulk/delete missing", Run: func(c *client) {
			name := c.createIndex("delmiss", nil)
			r := c.bulk("/_bulk", ext("delete", name, "ghost", 6))
			c.check(r, "errors", at(r.body, "errors"), false)
			c.check(r, "status", num(at(item(r, 0), "status")), 404)
			c.check(r, "result", at(item(r, 0), "result"), "not_found")
			c.check(r, "no error", at(item(r, 0), "error"), nil)
			c.check(r, "_version", num(at(item(r, 0), "_version")), 6)
			plain := c.bulk("/_bulk", map[string]any{"delete": map[string]any{"_index": name, "_id": "never"}})
			c.check(plain, "unversioned status", num(at(item(plain, 0), "status")), 404)
			c.check(plain, "unversioned result", at(item(plain, 0), "result"), "not_found")
		}},
		{Name: "bulk/tombstone", Run: func(c *client) {
			// A delete's version outlives the document (index.gc_deletes, 60s by
			// default): an older write arriving after the delete is refused.
			name := c.createIndex("tomb", nil)
			c.bulk("/_bulk", ext("index", name, "a", 1), doc("a", 1))
			c.bulk("/_bulk", ext("delete", name, "a", 5), ext("delete", name, "never", 5))
			r := c.bulk("/_bulk", ext("index", name, "a", 4), doc("a", 4), ext("index", name, "never", 3), doc("never", 3),
				ext("index", name, "a", 6), doc("a", 6))
			c.check(r, "under tombstone", num(at(item(r, 0), "status")), 409)
			c.check(r, "under missing-delete tombstone", num(at(item(r, 1), "status")), 409)
			c.check(r, "over tombstone status", num(at(item(r, 2), "status")), 201)
			c.check(r, "over tombstone result", at(item(r, 2), "result"), "created")
		}},
		{Name: "bulk/tombstone expiry", Run: func(c *client) {
			// With index.gc_deletes 0s the tombstone goes at the next prune (OpenSearch
			// prunes on refresh); from then on an older version is accepted again.
			name := c.createIndex("gc", map[string]any{"gc_deletes": "0s"})
			c.bulk("/_bulk", ext("index", name, "a", 1), doc("a", 1))
			c.bulk("/_bulk", ext("delete", name, "a", 5))
			deadline := time.Now().Add(10 * time.Second)
			for {
				time.Sleep(50 * time.Millisecond)
				c.want(http.StatusOK, http.MethodPost, "/"+name+"/_refresh", nil)
				r := c.bulk("/_bulk", ext("index", name, "a", 3), doc("a", 3))
				if num(at(item(r, 0), "status")) == 201 {
					return
				}
				if time.Now().After(deadline) {
					c.t.Fatalf("index.gc_deletes 0s: an older write is still refused after 10s: %s", excerpt(r.raw))
				}
			}
		}},
		{Name: "bulk/create op", Run: func(c *client) {
			name := c.createIndex("createop", nil)
			cr := func(id string) map[string]any {
				return map[string]any{"create": map[string]any{"_index": name, "_id": id}}
			}
			r := c.bulk("/_bulk", cr("a"), doc("a", 1), cr("a"), doc("a", 1))
			c.check(r, "first", num(at(item(r, 0), "status")), 201)
			c.check(r, "second", num(at(item(r, 1), "status")), 409)
			c.check(r, "second error.type", at(item(r, 1), "error", "type"), "version_conflict_engine_exception")
		}},
		{Name: "bulk/update", Run: func(c *client) {
			name := c.createIndex("upd", nil)
			up := func(id string) map[string]any {
				return map[string]any{"update": map[string]any{"_index": name, "_id": id}}
			}
			r := c.bulk("/_bulk",
				up("missing"), map[string]any{"doc": map[string]any{"title": "x"}},
				up("u"), map[string]any{"doc": map[string]any{"title": "first"}, "doc_as_upsert": true},
				up("u"), map[string]any{"doc": map[string]any{"tag": "t"}},
				up("u"), map[string]any{"doc": map[string]any{"tag": "t"}})
			c.check(r, "missing status", num(at(item(r, 0), "status")), 404)
			c.check(r, "missing error.type", at(item(r, 0), "error", "type"), "document_missing_exception")
			c.check(r, "upsert status", num(at(item(r, 1), "status")), 201)
			c.check(r, "upsert result", at(item(r, 1), "result"), "created")
			c.check(r, "merge result", at(item(r, 2), "result"), "updated")
			c.check(r, "merge _version", num(at(item(r, 2), "_version")), 2)
			c.check(r, "noop result", at(item(r, 3), "result"), "noop")
			c.check(r, "noop status", num(at(item(r, 3), "status")), 200)
			g := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_doc/u", nil)
			c.check(g, "merged title", at(g.body, "_source", "title"), "first")
			c.check(g, "merged tag", at(g.body, "_source", "tag"), "t")
		}},
		{Name: "bulk/mapper parsing", Run: func(c *client) {
			name := c.createIndex("mapper", nil)
			r := c.bulk("/_bulk", ext("index", name, "bad", 1), map[string]any{"version": "not a number"},
				ext("index", name, "good", 1), doc("good", 1))
			c.check(r, "errors", at(r.body, "errors"), true)
			c.check(r, "bad status", num(at(item(r, 0), "status")), 400)
			c.check(r, "bad error.type", at(item(r, 0), "error", "type"), "mapper_parsing_exception")
			c.check(r, "good status", num(at(item(r, 1), "status")), 201)
			c.want(http.StatusNotFound, http.MethodGet, "/"+name+"/_doc/bad", nil)
		}},
		{Name: "bulk/index from path", Run: func(c *client) {
			name := c.createIndex("path", nil)
			r := c.bulk("/"+name+"/_bulk?refresh=true", map[string]any{"index": map[string]any{"_id": "p"}}, doc("p", 1))
			c.check(r, "status", num(at(item(r, 0), "status")), 201)
			c.check(r, "_index", at(item(r, 0), "_index"), name)
			cnt := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_count", nil)
			c.check(cnt, "count after refresh=true", num(at(cnt.body, "count")), 1)
		}},
		{Name: "bulk/missing index auto-created", Run: func(c *client) {
			name := c.uniqueIndex("auto")
			r := c.bulk("/_bulk", ext("index", name, "a", 1), doc("a", 1))
			c.check(r, "status", num(at(item(r, 0), "status")), 201)
			c.want(http.StatusOK, http.MethodHead, "/"+name, nil)
		}},
		{Name: "bulk/malformed", Run: func(c *client) {
			name := c.createIndex("bulkbad", nil)
			r := c.want(http.StatusBadRequest, http.MethodPost, "/_bulk", `{"index":{"_index":"`+name+`"}`+"\n")
			c.check(r, "status", num(at(r.body, "status")), 400)
			r = c.want(http.StatusBadRequest, http.MethodPost, "/_bulk", `{"explode":{"_index":"`+name+`"}}`+"\n{}\n")
			if !strings.Contains(str(at(r.body, "error", "reason")), "explode") {
				c.t.Errorf("unknown action: reason does not name it: %s", excerpt(r.raw))
			}
			r = c.want(http.StatusBadRequest, http.MethodPost, "/_bulk", "\n")
			c.check(r, "empty: error.type", at(r.body, "error", "type"), "action_request_validation_exception")
		}},
	}
}

func docCases() []Case {
	return []Case{
		{Name: "doc/crud", Run: func(c *client) {
			name := c.createIndex("crud", nil)
			p := "/" + name + "/_doc/1"
			r := c.want(http.StatusCreated, http.MethodPut, p, doc("1", 1))
			c.check(r, "result", at(r.body, "result"), "created")
			c.check(r, "_version", num(at(r.body, "_version")), 1)
			r = c.want(http.StatusOK, http.MethodPut, p, doc("1", 2))
			c.check(r, "result", at(r.body, "result"), "updated")
			c.check(r, "_version", num(at(r.body, "_version")), 2)
			g := c.want(http.StatusOK, http.MethodGet, p, nil)
			c.check(g, "found", at(g.body, "found"), true)
			c.check(g, "_id", at(g.body, "_id"), "1")
			c.check(g, "_index", at(g.body, "_index"), name)
			c.check(g, "_version", num(at(g.body, "_version")), 2)
			c.check(g, "_source.version", num(at(g.body, "_source", "version")), 2)
			c.want(http.StatusOK, http.MethodHead, p, nil)
			s := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_source/1", nil)
			c.check(s, "_source endpoint", num(at(s.body, "version")), 2)
			d := c.want(http.StatusOK, http.MethodDelete, p, nil)
			c.check(d, "result", at(d.body, "result"), "deleted")
			d = c.want(http.StatusNotFound, http.MethodDelete, p, nil)
			c.check(d, "result", at(d.body, "result"), "not_found")
			g = c.want(http.StatusNotFound, http.MethodGet, p, nil)
			c.check(g, "found", at(g.body, "found"), false)
			c.want(http.StatusNotFound, http.MethodHead, p, nil)
		}},
		{Name: "doc/post auto id", Run: func(c *client) {
			name := c.createIndex("autoid", nil)
			r := c.want(http.StatusCreated, http.MethodPost, "/"+name+"/_doc", doc("x", 1))
			id := str(at(r.body, "_id"))
			if id == "" {
				c.t.Fatalf("no _id: %s", excerpt(r.raw))
			}
			c.want(http.StatusOK, http.MethodGet, "/"+name+"/_doc/"+id, nil)
		}},
		{Name: "doc/external version", Run: func(c *client) {
			name := c.createIndex("docext", nil)
			p := "/" + name + "/_doc/e"
			r := c.want(http.StatusCreated, http.MethodPut, p+"?version=5&version_type=external", doc("e", 5))
			c.check(r, "_version", num(at(r.body, "_version")), 5)
			c.wantError(http.StatusConflict, "version_conflict_engine_exception", http.MethodPut, p+"?version=3&version_type=external", doc("e", 3))
			c.wantError(http.StatusConflict, "version_conflict_engine_exception", http.MethodDelete, p+"?version=4&version_type=external", nil)
			d := c.want(http.StatusOK, http.MethodDelete, p+"?version=9&version_type=external", nil)
			c.check(d, "delete _version", num(at(d.body, "_version")), 9)
			c.wantError(http.StatusConflict, "version_conflict_engine_exception", http.MethodPut, p+"?version=8&version_type=external", doc("e", 8))
		}},
		{Name: "doc/realtime get, search after refresh", Run: func(c *client) {
			name := c.createIndex("rt", nil)
			c.bulk("/_bulk", ext("index", name, "a", 1), doc("a", 1), ext("index", name, "b", 1), doc("b", 1))
			g := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_doc/a", nil)
			c.check(g, "realtime found", at(g.body, "found"), true)
			cnt := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_count", nil)
			c.check(cnt, "count before refresh", num(at(cnt.body, "count")), 0)
			r := c.want(http.StatusOK, http.MethodPost, "/"+name+"/_refresh", nil)
			c.check(r, "_shards.failed", num(at(r.body, "_shards", "failed")), 0)
			cnt = c.want(http.StatusOK, http.MethodGet, "/"+name+"/_count", nil)
			c.check(cnt, "count after refresh", num(at(cnt.body, "count")), 2)
			c.want(http.StatusOK, http.MethodPost, "/_refresh", nil)
		}},
		{Name: "doc/mget", Run: func(c *client) {
			name := c.createIndex("mget", nil)
			c.bulk("/_bulk", ext("index", name, "a", 2), doc("a", 2))
			r := c.want(http.StatusOK, http.MethodPost, "/"+name+"/_mget", map[string]any{"ids": []string{"a", "zz"}})
			c.check(r, "a found", at(r.body, "docs", 0, "found"), true)
			c.check(r, "a _version", num(at(r.body, "docs", 0, "_version")), 2)
			c.check(r, "zz found", at(r.body, "docs", 1, "found"), false)
			c.check(r, "zz _id", at(r.body, "docs", 1, "_id"), "zz")
			r = c.want(http.StatusOK, http.MethodPost, "/_mget", map[string]any{"docs": []any{map[string]any{"_index": name, "_id": "a"}}})
			c.check(r, "docs form _index", at(r.body, "docs", 0, "_index"), name)
			c.check(r, "docs form found", at(r.body, "docs", 0, "found"), true)
		}},
		{Name: "doc/missing index", Run: func(c *client) {
			name := c.uniqueIndex("docmiss")
			c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodGet, "/"+name+"/_doc/1", nil)
			c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodGet, "/"+name+"/_count", nil)
			c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodPost, "/"+name+"/_search", nil)
		}},
	}
}
