package conformance

import (
	"fmt"
	"net/http"
	"strings"
)

// seedSearch writes six documents with tags and versions 1..6 and refreshes.
func (c *client) seedSearch(tag string) string {
	c.t.Helper()
	name := c.createIndex(tag, nil)
	words := []string{"red apple", "green apple", "red car", "blue car", "green tree", "red tree"}
	tags := []string{"fruit", "fruit", "vehicle", "vehicle", "plant", "plant"}
	var lines []any
	for i, w := range words {
		id := fmt.Sprintf("d%d", i+1)
		lines = append(lines, ext("index", name, id, int64(i+1)), map[string]any{
			"entity_id": id, "title": w, "version": i + 1, "tag": tags[i]})
	}
	c.bulk("/_bulk?refresh=true", lines...)
	return name
}

func searchCases() []Case {
	type q = map[string]any
	queries := []struct {
		name string
		body q
		want string // hit ids, sorted by version ascending
	}{
		{"match_all", q{"query": q{"match_all": q{}}}, "d1 d2 d3 d4 d5 d6"},
		{"no query", q{}, "d1 d2 d3 d4 d5 d6"},
		{"term keyword", q{"query": q{"term": q{"tag": "fruit"}}}, "d1 d2"},
		{"term value object", q{"query": q{"term": q{"tag": q{"value": "plant"}}}}, "d5 d6"},
		{"terms", q{"query": q{"terms": q{"tag": []string{"fruit", "plant"}}}}, "d1 d2 d5 d6"},
		{"term on long", q{"query": q{"term": q{"version": 3}}}, "d3"},
		{"match text", q{"query": q{"match": q{"title": "red"}}}, "d1 d3 d6"},
		{"match any word", q{"query": q{"match": q{"title": "blue tree"}}}, "d4 d5 d6"},
		{"match and", q{"query": q{"match": q{"title": q{"query": "red tree", "operator": "and"}}}}, "d6"},
		{"ids", q{"query": q{"ids": q{"values": []string{"d2", "d4", "nope"}}}}, "d2 d4"},
		{"range", q{"query": q{"range": q{"version": q{"gte": 2, "lt": 4}}}}, "d2 d3"},
		{"bool", q{"query": q{"bool": q{
			"must":     []any{q{"match": q{"title": "red"}}},
			"filter":   []any{q{"terms": q{"tag": []string{"fruit", "plant"}}}},
			"must_not": []any{q{"ids": q{"values": []string{"d6"}}}},
		}}}, "d1"},
		{"bool should", q{"query": q{"bool": q{
			"should": []any{q{"term": q{"tag": "vehicle"}}, q{"ids": q{"values": []string{"d1"}}}},
		}}}, "d1 d3 d4"},
	}
	var cases []Case
	for _, qc := range queries {
		cases = append(cases, Case{Name: "search/" + qc.name, Run: func(c *client) {
			name := c.seedSearch("q")
			body := q{"sort": []any{q{"version": "asc"}}}
			for k, v := range qc.body {
				body[k] = v
			}
			r := c.want(http.StatusOK, http.MethodPost, "/"+name+"/_search", body)
			c.check(r, "hits", strings.Join(hitIDs(r), " "), qc.want)
			c.check(r, "total", total(r), len(strings.Fields(qc.want)))
			c.check(r, "relation", at(r.body, "hits", "total", "relation"), "eq")
			c.check(r, "timed_out", at(r.body, "timed_out"), false)
			var countBody any
			if body["query"] != nil {
				countBody = q{"query": body["query"]}
			}
			cnt := c.want(http.StatusOK, http.MethodPost, "/"+name+"/_count", countBody)
			c.check(cnt, "count", num(at(cnt.body, "count")), len(strings.Fields(qc.want)))
		}})
	}
	return append(cases,
		Case{Name: "search/size from sort", Run: func(c *client) {
			name := c.seedSearch("page")
			r := c.want(http.StatusOK, http.MethodPost, "/"+name+"/_search", q{"size": 2, "from": 1, "sort": []any{q{"version": q{"order": "desc"}}}})
			c.check(r, "hits", strings.Join(hitIDs(r), " "), "d5 d4")
			c.check(r, "total", total(r), 6)
			c.check(r, "_source", at(r.body, "hits", "hits", 0, "_source", "entity_id"), "d5")
			c.check(r, "_index", at(r.body, "hits", "hits", 0, "_index"), name)
			r = c.want(http.StatusOK, http.MethodGet, "/"+name+"/_search?size=1&sort=version:desc", nil)
			c.check(r, "uri size and sort", strings.Join(hitIDs(r), " "), "d6")
			r = c.want(http.StatusOK, http.MethodPost, "/"+name+"/_search", q{"size": 0})
			c.check(r, "size 0 hits", len(hitIDs(r)), 0)
			c.check(r, "size 0 total", total(r), 6)
		}},
		Case{Name: "search/default size", Run: func(c *client) {
			name := c.createIndex("many", nil)
			var lines []any
			for i := range 15 {
				id := fmt.Sprint(i)
				lines = append(lines, ext("index", name, id, 1), doc(id, 1))
			}
			c.bulk("/_bulk?refresh=true", lines...)
			r := c.want(http.StatusOK, http.MethodGet, "/"+name+"/_search", nil)
			c.check(r, "hits", len(hitIDs(r)), 10)
			c.check(r, "total", total(r), 15)
		}},
		Case{Name: "search/deleted documents leave", Run: func(c *client) {
			name := c.seedSearch("gone")
			c.bulk("/_bulk?refresh=true", ext("delete", name, "d1", 10))
			r := c.want(http.StatusOK, http.MethodPost, "/"+name+"/_search", q{"query": q{"term": q{"tag": "fruit"}}})
			c.check(r, "hits", strings.Join(hitIDs(r), " "), "d2")
		}},
		Case{Name: "search/wildcard indices", Run: func(c *client) {
			a := c.seedSearch("wa")
			prefix := a[:strings.LastIndex(a, "-")]
			r := c.want(http.StatusOK, http.MethodGet, "/"+prefix+"-*/_count", nil)
			c.check(r, "count over a wildcard", num(at(r.body, "count")), 6)
			r = c.want(http.StatusOK, http.MethodGet, "/"+prefix+"-nothing-*/_count", nil)
			c.check(r, "count over an empty wildcard", num(at(r.body, "count")), 0)
		}},
	)
}

func aliasCases() []Case {
	type q = map[string]any
	return []Case{
		{Name: "alias/add get search write", Run: func(c *client) {
			v1 := c.seedSearch("al1")
			alias := v1 + "-live"
			r := c.want(http.StatusOK, http.MethodPost, "/_aliases", q{"actions": []any{q{"add": q{"index": v1, "alias": alias}}}})
			c.check(r, "acknowledged", at(r.body, "acknowledged"), true)
			g := c.want(http.StatusOK, http.MethodGet, "/_alias/"+alias, nil)
			if _, ok := at(g.body, v1, "aliases", alias).(map[string]any); !ok {
				c.t.Errorf("GET /_alias/%s: %s", alias, excerpt(g.raw))
			}
			c.want(http.StatusOK, http.MethodHead, "/_alias/"+alias, nil)
			ga := c.want(http.StatusOK, http.MethodGet, "/"+v1+"/_alias", nil)
			if _, ok := at(ga.body, v1, "aliases", alias).(map[string]any); !ok {
				c.t.Errorf("GET /%s/_alias: %s", v1, excerpt(ga.raw))
			}
			cnt := c.want(http.StatusOK, http.MethodGet, "/"+alias+"/_count", nil)
			c.check(cnt, "count via alias", num(at(cnt.body, "count")), 6)
			s := c.want(http.StatusOK, http.MethodPost, "/"+alias+"/_search", q{"query": q{"ids": q{"values": []string{"d1"}}}})
			c.check(s, "hit _index is the concrete index", at(s.body, "hits", "hits", 0, "_index"), v1)
			w := c.bulk("/_bulk?refresh=true", ext("index", alias, "via", 1), doc("via", 1))
			c.check(w, "write via alias", num(at(item(w, 0), "status")), 201)
			c.check(w, "write via alias _index", at(item(w, 0), "_index"), v1)
			got := c.want(http.StatusOK, http.MethodGet, "/"+alias+"/_doc/via", nil)
			c.check(got, "get via alias _index", at(got.body, "_index"), v1)
		}},
		{Name: "alias/atomic switch", Run: func(c *client) {
			v1 := c.seedSearch("sw1")
			v2 := c.createIndex("sw2", nil)
			alias := v1 + "-live"
			c.want(http.StatusOK, http.MethodPost, "/_aliases", q{"actions": []any{q{"add": q{"index": v1, "alias": alias}}}})
			c.want(http.StatusOK, http.MethodPost, "/_aliases", q{"actions": []any{
				q{"remove": q{"index": v1, "alias": alias}},
				q{"add": q{"index": v2, "alias": alias}},
			}})
			g := c.want(http.StatusOK, http.MethodGet, "/_alias/"+alias, nil)
			if _, ok := at(g.body, v2, "aliases", alias).(map[string]any); !ok || len(g.body) != 1 {
				c.t.Errorf("after the switch GET /_alias/%s: %s, want only %s", alias, excerpt(g.raw), v2)
			}
			cnt := c.want(http.StatusOK, http.MethodGet, "/"+alias+"/_count", nil)
			c.check(cnt, "count via switched alias", num(at(cnt.body, "count")), 0)
			// A failing action fails the whole request: nothing applied.
			bad := c.do(http.MethodPost, "/_aliases", q{"actions": []any{
				q{"remove": q{"index": v2, "alias": alias}},
				q{"add": q{"index": v2 + "-missing", "alias": alias}},
			}})
			if bad.status != http.StatusNotFound {
				c.t.Errorf("alias actions on a missing index: status %d, want 404; body: %s", bad.status, excerpt(bad.raw))
			}
			c.check(bad, "error.type", at(bad.body, "error", "type"), "index_not_found_exception")
			c.want(http.StatusOK, http.MethodHead, "/_alias/"+alias, nil)
		}},
		{Name: "alias/missing", Run: func(c *client) {
			name := c.uniqueIndex("nal")
			r := c.want(http.StatusNotFound, http.MethodGet, "/_alias/"+name, nil)
			c.check(r, "status", num(at(r.body, "status")), 404)
			if !strings.Contains(str(at(r.body, "error")), name) {
				c.t.Errorf("missing alias: error does not name it: %s", excerpt(r.raw))
			}
			c.want(http.StatusNotFound, http.MethodHead, "/_alias/"+name, nil)
		}},
		{Name: "alias/over several indices", Run: func(c *client) {
			a := c.seedSearch("multi1")
			b := c.seedSearch("multi2")
			alias := a + "-all"
			c.want(http.StatusOK, http.MethodPost, "/_aliases", q{"actions": []any{
				q{"add": q{"index": a, "alias": alias}}, q{"add": q{"index": b, "alias": alias}}}})
			cnt := c.want(http.StatusOK, http.MethodGet, "/"+alias+"/_count", nil)
			c.check(cnt, "count over two", num(at(cnt.body, "count")), 12)
			w := c.bulk("/_bulk", ext("index", alias, "x", 1), doc("x", 1))
			c.check(w, "write to a two-index alias", num(at(item(w, 0), "status")), 400)
			c.check(w, "write error.type", at(item(w, 0), "error", "type"), "illegal_argument_exception")
		}},
	}
}
