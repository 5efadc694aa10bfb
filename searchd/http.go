package searchd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxContentLength is Elasticsearch's default http.max_content_length.
const maxContentLength = 100 << 20

// versionNumber is what GET / reports. searchd's responses have the
// Elasticsearch 8 shapes (no _type anywhere, hits.total as an object), so
// it claims an 8.x version; clients that gate features on 7.x vs 8.x then
// pick the shapes searchd actually speaks.
const versionNumber = "8.11.0"

// req is one request being served.
type req struct {
	w     http.ResponseWriter
	r     *http.Request
	q     url.Values
	start time.Time
	segs  []string
}

// route is one endpoint: a path shape and a handler per method.
type route struct {
	match   func(segs []string) bool
	methods map[string]func(*req)
}

func (n *Node) routes() http.Handler {
	seg := func(parts ...string) func([]string) bool {
		return func(s []string) bool {
			if len(s) != len(parts) {
				return false
			}
			for i, p := range parts {
				if p == "*" {
					if strings.HasPrefix(s[i], "_") && s[i] != "_all" {
						return false
					}
					continue
				}
				if p == "?" {
					continue
				}
				if s[i] != p {
					return false
				}
			}
			return true
		}
	}
	get2 := func(h func(*req)) map[string]func(*req) {
		return map[string]func(*req){http.MethodGet: h, http.MethodPost: h}
	}
	rs := []route{
		{seg(), map[string]func(*req){http.MethodGet: n.handleInfo, http.MethodHead: n.handleInfo}},
		{seg("_cluster", "health"), map[string]func(*req){http.MethodGet: n.handleHealth}},
		{seg("_cluster", "health", "?"), map[string]func(*req){http.MethodGet: n.handleHealth}},
		{seg("_bulk"), map[string]func(*req){http.MethodPost: n.handleBulk, http.MethodPut: n.handleBulk}},
		{seg("*", "_bulk"), map[string]func(*req){http.MethodPost: n.handleBulk, http.MethodPut: n.handleBulk}},
		{seg("_mget"), get2(n.handleMget)},
		{seg("*", "_mget"), get2(n.handleMget)},
		{seg("_aliases"), map[string]func(*req){http.MethodPost: n.handleAliasActions, http.MethodGet: n.handleGetAlias}},
		{seg("_alias"), map[string]func(*req){http.MethodGet: n.handleGetAlias}},
		{seg("_alias", "?"), map[string]func(*req){http.MethodGet: n.handleGetAlias, http.MethodHead: n.handleGetAlias}},
		{seg("*", "_alias"), map[string]func(*req){http.MethodGet: n.handleGetAlias}},
		{seg("*", "_alias", "?"), map[string]func(*req){http.MethodGet: n.handleGetAlias, http.MethodHead: n.handleGetAlias,
			http.MethodPut: n.handlePutAlias, http.MethodPost: n.handlePutAlias, http.MethodDelete: n.handleDeleteAlias}},
		{seg("*", "_aliases", "?"), map[string]func(*req){http.MethodPut: n.handlePutAlias, http.MethodPost: n.handlePutAlias, http.MethodDelete: n.handleDeleteAlias}},
		{seg("_refresh"), get2(n.handleRefresh)},
		{seg("*", "_refresh"), get2(n.handleRefresh)},
		{seg("_count"), get2(n.handleCount)},
		{seg("*", "_count"), get2(n.handleCount)},
		{seg("_search"), get2(n.handleSearch)},
		{seg("*", "_search"), get2(n.handleSearch)},
		{seg("*", "_settings"), map[string]func(*req){http.MethodGet: n.handleGetSettings, http.MethodPut: n.handlePutSettings}},
		{seg("_settings"), map[string]func(*req){http.MethodGet: n.handleGetSettings, http.MethodPut: n.handlePutSettings}},
		{seg("*", "_settings", "?"), map[string]func(*req){http.MethodGet: n.handleGetSettings}},
		{seg("*", "_mapping"), map[string]func(*req){http.MethodGet: n.handleGetMapping, http.MethodPut: n.handlePutMapping, http.MethodPost: n.handlePutMapping}},
		{seg("_mapping"), map[string]func(*req){http.MethodGet: n.handleGetMapping}},
		{seg("*", "_doc"), map[string]func(*req){http.MethodPost: n.handleIndexDoc}},
		{seg("*", "_doc", "?"), map[string]func(*req){http.MethodGet: n.handleGetDoc, http.MethodHead: n.handleGetDoc,
			http.MethodPut: n.handleIndexDoc, http.MethodPost: n.handleIndexDoc, http.MethodDelete: n.handleDeleteDoc}},
		{seg("*", "_create", "?"), map[string]func(*req){http.MethodPut: n.handleIndexDoc, http.MethodPost: n.handleIndexDoc}},
		{seg("*", "_update", "?"), map[string]func(*req){http.MethodPost: n.handleUpdateDoc}},
		{seg("*", "_source", "?"), map[string]func(*req){http.MethodGet: n.handleGetSource, http.MethodHead: n.handleGetSource}},
		{seg("*"), map[string]func(*req){http.MethodPut: n.handleCreateIndex, http.MethodHead: n.handleIndexExists,
			http.MethodGet: n.handleGetIndex, http.MethodDelete: n.handleDeleteIndex}},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Elastic-Product", "Elasticsearch")
		h.Set("Content-Type", "application/json")
		rq := &req{w: w, r: r, q: r.URL.Query(), start: time.Now()}
		segs, err := splitPath(r.URL.EscapedPath())
		if err != nil {
			rq.fail(errIllegalArgument("invalid path [%s]: %v", r.URL.EscapedPath(), err))
			return
		}
		rq.segs = segs
		for _, rt := range rs {
			if !rt.match(segs) {
				continue
			}
			if hf, ok := rt.methods[r.Method]; ok {
				hf(rq)
				return
			}
			allowed := make([]string, 0, len(rt.methods))
			for m := range rt.methods {
				allowed = append(allowed, m)
			}
			rq.reply(http.StatusMethodNotAllowed, map[string]any{
				"error":  fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", r.URL.RequestURI(), r.Method, strings.Join(allowed, ", ")),
				"status": http.StatusMethodNotAllowed,
			})
			return
		}
		rq.fail(errUnsupported(r.Method + " " + r.URL.Path))
	})
}

func splitPath(p string) ([]string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		parts[i] = u
	}
	return parts, nil
}

// reply writes a JSON answer (no body for HEAD).
func (q *req) reply(status int, v any) {
	if q.r.Method == http.MethodHead {
		q.w.WriteHeader(status)
		return
	}
	var b []byte
	var err error
	if q.q.Has("pretty") {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errInternal(err).body())
	}
	q.w.WriteHeader(status)
	_, _ = q.w.Write(append(b, '\n'))
}

func (q *req) fail(e *esError) { q.reply(e.status, e.body()) }

func (q *req) took() int64 { return time.Since(q.start).Milliseconds() }

// body reads the request body; a body over http.max_content_length is 413.
func (q *req) body() ([]byte, *esError) {
	if q.r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, maxContentLength))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &esError{status: http.StatusRequestEntityTooLarge, typ: "content_too_long_exception",
			reason: fmt.Sprintf("request body is larger than %d bytes", maxContentLength)}
	}
	if err != nil {
		return nil, errParse("failed to read request body: %v", err)
	}
	return b, nil
}

// jsonBody reads a JSON object body; an empty body is a nil map.
func (q *req) jsonBody() (map[string]any, *esError) {
	b, e := q.body()
	if e != nil {
		return nil, e
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := decodeJSON(b, &m); err != nil {
		return nil, errParse("request body is not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errParse("request body is not a JSON object")
	}
	return m, nil
}

// refreshParam reports whether ?refresh asks for a refresh before replying.
func (q *req) refreshParam() (bool, *esError) {
	if !q.q.Has("refresh") {
		return false, nil
	}
	switch v := q.q.Get("refresh"); v {
	case "", "true", "wait_for":
		return true, nil
	case "false":
		return false, nil
	default:
		return false, errIllegalArgument("Unknown value for refresh: [%s].", v)
	}
}

func (q *req) boolParam(name string) bool {
	if !q.q.Has(name) {
		return false
	}
	v := q.q.Get(name)
	return v == "" || v == "true"
}

// writeShards is the _shards of a document write: one primary, one
// (never-assigned) replica, as a single Elasticsearch node reports it.
func writeShards() map[string]any {
	return map[string]any{"total": 2, "successful": 1, "failed": 0}
}

func (n *Node) handleInfo(q *req) {
	q.reply(http.StatusOK, map[string]any{
		"name":         n.info.Name,
		"cluster_name": "searchd",
		"cluster_uuid": n.info.ClusterUUID,
		"version": map[string]any{
			"number":                              versionNumber,
			"build_flavor":                        "default",
			"build_type":                          "searchd",
			"build_hash":                          "searchd",
			"build_date":                          "2024-01-01T00:00:00.000Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.8.0",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

func (n *Node) handleHealth(q *req) {
	ixs := n.snapshot()
	if len(q.segs) == 3 {
		var e *esError
		if ixs, e = n.resolve(q.segs[2]); e != nil {
			q.fail(e)
			return
		}
	}
	q.reply(http.StatusOK, map[string]any{
		"cluster_name":                     "searchd",
		"status":                           "green",
		"timed_out":                        false,
		"number_of_nodes":                  1,
		"number_of_data_nodes":             1,
		"active_primary_shards":            len(ixs),
		"active_shards":                    len(ixs),
		"relocating_shards":                0,
		"initializing_shards":              0,
		"unassigned_shards":                0,
		"delayed_unassigned_shards":        0,
		"number_of_pending_tasks":          0,
		"number_of_in_flight_fetch":        0,
		"task_max_waiting_in_queue_millis": 0,
		"active_shards_percent_as_number":  100.0,
	})
}

func intParam(q *req, name string, def int) (int, *esError) {
	if !q.q.Has(name) {
		return def, nil
	}
	v, err := strconv.Atoi(q.q.Get(name))
	if err != nil {
		return 0, errIllegalArgument("Failed to parse int parameter [%s] with value [%s]", name, q.q.Get(name))
	}
	return v, nil
}
