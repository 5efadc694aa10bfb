package conformance

import (
	"net/http"
	"strings"
	"time"
)

func clusterCases() []Case {
	return []Case{
		{Name: "root", Run: func(c *client) {
			r := c.want(http.StatusOK, http.MethodGet, "/", nil)
			for _, f := range [][]any{{"version", "number"}, {"cluster_name"}, {"tagline"}, {"name"}} {
				if str(at(r.body, f...)) == "" {
					c.t.Errorf("GET /: %v is empty; body: %s", f, excerpt(r.raw))
				}
			}
		}},
		{Name: "root/product header", SearchdOnly: true, Run: func(c *client) {
			// go-elasticsearch v8 refuses a server without this header.
			r := c.want(http.StatusOK, http.MethodGet, "/", nil)
			c.check(r, "X-Elastic-Product", r.header.Get("X-Elastic-Product"), "Elasticsearch")
		}},
		{Name: "cluster health", Run: func(c *client) {
			r := c.want(http.StatusOK, http.MethodGet, "/_cluster/health", nil)
			if s := str(at(r.body, "status")); s != "green" && s != "yellow" {
				c.t.Errorf("status: got %q, want green or yellow", s)
			}
			c.check(r, "number_of_nodes", num(at(r.body, "number_of_nodes")), 1)
			c.check(r, "timed_out", at(r.body, "timed_out"), false)
		}},
		{Name: "cluster health/index", Run: func(c *client) {
			name := c.createIndex("health", nil)
			r := c.want(http.StatusOK, http.MethodGet, "/_cluster/health/"+name+"?wait_for_status=green&timeout=30s", nil)
			c.check(r, "status", at(r.body, "status"), "green")
			c.check(r, "active_primary_shards", num(at(r.body, "active_primary_shards")), 1)
		}},
	}
}

func indexCases() []Case {
	return []Case{
		{Name: "index/create", Run: func(c *client) {
			name := c.uniqueIndex("create")
			r := c.want(http.StatusOK, http.MethodPut, "/"+name, map[string]any{
				"mappings": map[string]any{"properties": map[string]any{"title": map[string]any{"type": "text"}}}})
			c.check(r, "acknowledged", at(r.body, "acknowledged"), true)
			c.check(r, "shards_acknowledged", at(r.body, "shards_acknowledged"), true)
			c.check(r, "index", at(r.body, "index"), name)
			c.wantError(http.StatusBadRequest, "resource_already_exists_exception", http.MethodPut, "/"+name, nil)
		}},
		{Name: "index/create without body", Run: func(c *client) {
			name := c.uniqueIndex("nobody")
			c.want(http.StatusOK, http.MethodPut, "/"+name, nil)
			c.want(http.StatusOK, http.MethodHead, "/"+name, nil)
		}},
		{Name: "index/exists", Run: func(c *client) {
			name := c.createIndex("exists", nil)
			r := c.want(http.StatusOK, http.MethodHead, "/"+name, nil)
			if len(r.raw) != 0 {
				c.t.Errorf("HEAD answered a body: %s", excerpt(r.raw))
			}
			c.want(http.StatusNotFound, http.MethodHead, "/"+name+"-missing", nil)
		}},
		{Name: "index/get", Run: func(c *client) {
			name := c.createIndex("get", nil)
			r := c.want(http.StatusOK, http.MethodGet, "/"+name, nil)
			c.check(r, "title type", at(r.body, name, "mappings", "properties", "title", "type"), "text")
			c.check(r, "version type", at(r.body, name, "mappings", "properties", "version", "type"), "long")
			c.check(r, "number_of_shards", at(r.body, name, "settings", "index", "number_of_shards"), "1")
			c.check(r, "refresh_interval", at(r.body, name, "settings", "index", "refresh_interval"), "-1")
			m := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_mapping", nil)
			c.check(m, "_mapping entity_id", at(m.body, name, "mappings", "properties", "entity_id", "type"), "keyword")
		}},
		{Name: "index/dynamic mapping", Run: func(c *client) {
			name := c.createIndex("dyn", nil)
			c.want(http.StatusCreated, http.MethodPut, "/"+name+"/_doc/1", map[string]any{"extra": "x", "n": 5})
			m := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_mapping", nil)
			c.check(m, "extra type", at(m.body, name, "mappings", "properties", "extra", "type"), "text")
			c.check(m, "extra.keyword", at(m.body, name, "mappings", "properties", "extra", "fields", "keyword", "type"), "keyword")
			c.check(m, "n type", at(m.body, name, "mappings", "properties", "n", "type"), "long")
		}},
		{Name: "index/missing", Run: func(c *client) {
			name := c.uniqueIndex("missing")
			r := c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodGet, "/"+name, nil)
			c.check(r, "error.index", at(r.body, "error", "index"), name)
			c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodGet, "/"+name+"/_mapping", nil)
			c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodPost, "/"+name+"/_refresh", nil)
		}},
		{Name: "index/delete", Run: func(c *client) {
			name := c.createIndex("delete", nil)
			r := c.want(http.StatusOK, http.MethodDelete, "/"+name, nil)
			c.check(r, "acknowledged", at(r.body, "acknowledged"), true)
			c.want(http.StatusNotFound, http.MethodHead, "/"+name, nil)
			c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodDelete, "/"+name, nil)
		}},
		{Name: "index/invalid name", Run: func(c *client) {
			c.wantError(http.StatusBadRequest, "invalid_index_name_exception", http.MethodPut, "/Upper-Case", nil)
			c.wantError(http.StatusBadRequest, "invalid_index_name_exception", http.MethodPut, "/bad%20name", nil)
		}},
	}
}

func settingsCases() []Case {
	return []Case{
		{Name: "settings/refresh_interval", Run: func(c *client) {
			name := c.createIndex("refint", nil)
			r := c.want(http.StatusOK, http.MethodPut, "/"+name+"/_settings", map[string]any{"index": map[string]any{"refresh_interval": "2s"}})
			c.check(r, "acknowledged", at(r.body, "acknowledged"), true)
			g := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_settings", nil)
			c.check(g, "refresh_interval", at(g.body, name, "settings", "index", "refresh_interval"), "2s")
		}},
		{Name: "settings/periodic refresh", Run: func(c *client) {
			// With a refresh_interval the engine refreshes on its own: a search
			// sees a write without an explicit _refresh.
			name := c.createIndex("periodic", map[string]any{"refresh_interval": "200ms"})
			c.bulk("/_bulk", ext("index", name, "a", 1), doc("a", 1))
			deadline := time.Now().Add(10 * time.Second)
			for {
				cnt := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_count", nil)
				if num(at(cnt.body, "count")) == 1 {
					return
				}
				if time.Now().After(deadline) {
					c.t.Fatalf("refresh_interval 200ms: count still %v after 10s", at(cnt.body, "count"))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}},
		{Name: "settings/write block", Run: func(c *client) {
			name := c.createIndex("block", nil)
			c.bulk("/_bulk?refresh=true", ext("index", name, "keep", 1), doc("keep", 1))
			c.want(http.StatusOK, http.MethodPut, "/"+name+"/_settings", map[string]any{"index.blocks.write": true})
			g := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_settings", nil)
			c.check(g, "blocks.write", at(g.body, name, "settings", "index", "blocks", "write"), "true")

			r := c.bulk("/_bulk", ext("index", name, "new", 1), doc("new", 1), ext("delete", name, "keep", 2))
			c.check(r, "errors", at(r.body, "errors"), true)
			for i := range 2 {
				c.check(r, "item status", num(at(item(r, i), "status")), 403)
				c.check(r, "item error.type", at(item(r, i), "error", "type"), "cluster_block_exception")
			}
			c.wantError(http.StatusForbidden, "cluster_block_exception", http.MethodPut, "/"+name+"/_doc/new", doc("new", 1))
			c.wantError(http.StatusForbidden, "cluster_block_exception", http.MethodDelete, "/"+name+"/_doc/keep", nil)
			// Reads still work, and nothing was written.
			got := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_doc/keep", nil)
			c.check(got, "found", at(got.body, "found"), true)
			c.want(http.StatusNotFound, http.MethodGet, "/"+name+"/_doc/new", nil)
			cnt := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_count", nil)
			c.check(cnt, "count", num(at(cnt.body, "count")), 1)

			c.want(http.StatusOK, http.MethodPut, "/"+name+"/_settings", map[string]any{"index": map[string]any{"blocks": map[string]any{"write": false}}})
			r = c.bulk("/_bulk", ext("index", name, "new", 1), doc("new", 1))
			c.check(r, "after unblock: status", num(at(item(r, 0), "status")), 201)
		}},
		{Name: "settings/write block via null", Run: func(c *client) {
			name := c.createIndex("blocknull", nil)
			c.want(http.StatusOK, http.MethodPut, "/"+name+"/_settings", map[string]any{"index.blocks.write": "true"})
			c.want(http.StatusOK, http.MethodPut, "/"+name+"/_settings", map[string]any{"index.blocks.write": nil})
			r := c.bulk("/_bulk", ext("index", name, "a", 1), doc("a", 1))
			c.check(r, "after reset: status", num(at(item(r, 0), "status")), 201)
		}},
		{Name: "settings/missing index", Run: func(c *client) {
			name := c.uniqueIndex("setmiss")
			c.wantError(http.StatusNotFound, "index_not_found_exception", http.MethodPut, "/"+name+"/_settings", map[string]any{"index.blocks.write": true})
		}},
	}
}

var parseTypes = map[string]bool{"parse_exception": true, "parsing_exception": true, "json_parse_exception": true,
	"json_e_o_f_exception": true, "x_content_parse_exception": true, "mapper_parsing_exception": true}

func errorCases() []Case {
	return []Case{
		{Name: "errors/malformed json", Run: func(c *client) {
			name := c.createIndex("badjson", nil)
			for _, p := range []struct{ method, path string }{
				{http.MethodPost, "/" + name + "/_search"},
				{http.MethodPut, "/" + name + "/_doc/1"},
			} {
				r := c.want(http.StatusBadRequest, p.method, p.path, `{"query": {`)
				// The type depends on where the parser gave up (OpenSearch:
				// json_e_o_f_exception for a search, mapper_parsing_exception
				// for a document); it is always a parse failure.
				if typ := str(at(r.body, "error", "type")); !parseTypes[typ] {
					c.t.Errorf("%s %s: error.type %q, want one of %v", p.method, p.path, typ, parseTypes)
				}
				c.check(r, "status", num(at(r.body, "status")), 400)
			}
		}},
		{Name: "errors/unknown query clause", Run: func(c *client) {
			name := c.createIndex("badq", nil)
			r := c.want(http.StatusBadRequest, http.MethodPost, "/"+name+"/_search", map[string]any{"query": map[string]any{"no_such_clause": map[string]any{}}})
			if !strings.Contains(str(at(r.body, "error", "reason")), "no_such_clause") {
				c.t.Errorf("error.reason does not name the clause: %s", excerpt(r.raw))
			}
		}},
		{Name: "errors/unsupported endpoint", SearchdOnly: true, Run: func(c *client) {
			r := c.want(http.StatusBadRequest, http.MethodGet, "/_nodes/stats", nil)
			if !strings.Contains(str(at(r.body, "error", "reason")), "_nodes/stats") {
				c.t.Errorf("error.reason does not name the endpoint: %s", excerpt(r.raw))
			}
		}},
		{Name: "errors/wrong method", Run: func(c *client) {
			r := c.do(http.MethodDelete, "/_bulk", nil)
			if r.status != http.StatusMethodNotAllowed {
				c.t.Errorf("DELETE /_bulk: got %d, want 405; body: %s", r.status, excerpt(r.raw))
			}
		}},
	}
}
