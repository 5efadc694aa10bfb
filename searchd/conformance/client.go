// Package conformance is an HTTP-only test suite of the Elasticsearch REST
// behaviour firedrill relies on (the projector's _bulk with external
// versions, write blocks, realtime GET, refresh, count, search, aliases).
// It asserts only what Elasticsearch 7/8 and OpenSearch 2 themselves
// return, so the same suite runs against searchd and a real engine.
//
// It speaks raw net/http on purpose: it checks the wire, not a client.
// Every test uses its own index names, so the suite can share a node with
// other work; it deletes what it created.
package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// client sends requests to the engine under test and fails the test on
// transport errors.
type client struct {
	t       *testing.T
	base    string
	hc      *http.Client
	searchd bool // the target is searchd
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func newClient(t *testing.T, base string) *client {
	return &client{t: t, base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 30 * time.Second}}
}

// do sends method path with body: nil, a string or []byte sent as is, or
// anything else JSON-encoded. NDJSON bodies (strings ending in "\n") get
// the x-ndjson content type.
func (c *client) do(method, path string, body any) resp {
	c.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		if strings.HasSuffix(b, "\n") {
			ctype = "application/x-ndjson"
		}
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd) // also used by cleanups, after t.Context ends
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && method != http.MethodHead {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&r.body); err != nil {
			c.t.Fatalf("%s %s: status %d, body is not a JSON object: %v: %s", method, path, res.StatusCode, err, excerpt(raw))
		}
	}
	return r
}

func excerpt(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// want asserts the status and returns the response for more checks.
func (c *client) want(status int, method, path string, body any) resp {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.t.Fatalf("%s %s: got status %d, want %d; body: %s", method, path, r.status, status, excerpt(r.raw))
	}
	return r
}

// at walks v by keys (strings) and indices (ints); nil when absent.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// num converts a decoded JSON number to int64 (-1 when it is not one).
func num(v any) int64 {
	if n, ok := v.(json.Number); ok {
		i, err := n.Int64()
		if err == nil {
			return i
		}
		f, err := n.Float64()
		if err == nil {
			return int64(f)
		}
	}
	return -1
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// check compares one field of a response.
func (c *client) check(r resp, what string, got, want any) {
	c.t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		c.t.Errorf("%s: got %v, want %v; body: %s", what, got, want, excerpt(r.raw))
	}
}

// uniqueIndex returns a fresh lowercase index name and deletes the index
// when the test ends.
func (c *client) uniqueIndex(tag string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "conf-" + strings.ToLower(tag) + "-" + hex.EncodeToString(b[:])
	c.t.Cleanup(func() { c.do(http.MethodDelete, "/"+name, nil) })
	return name
}

// createIndex creates an index with the projector's kind of mapping and
// periodic refresh off, so visibility depends on explicit refreshes only.
func (c *client) createIndex(tag string, extraSettings map[string]any) string {
	c.t.Helper()
	name := c.uniqueIndex(tag)
	settings := map[string]any{"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"}
	for k, v := range extraSettings {
		settings[k] = v
	}
	c.want(http.StatusOK, http.MethodPut, "/"+name, map[string]any{
		"settings": settings,
		"mappings": map[string]any{"properties": map[string]any{
			"entity_id": map[string]any{"type": "keyword"},
			"title":     map[string]any{"type": "text"},
			"version":   map[string]any{"type": "long"},
			"tag":       map[string]any{"type": "keyword"},
		}},
	})
	return name
}

// bulk sends NDJSON lines (each a JSON value) and returns the answer.
func (c *client) bulk(path string, lines ...any) resp {
	c.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		enc, err := json.Marshal(l)
		if err != nil {
			c.t.Fatalf("encode bulk line: %v", err)
		}
		b.Write(enc)
		b.WriteByte('\n')
	}
	return c.want(http.StatusOK, http.MethodPost, path, b.String())
}

// item returns the result object of bulk item i whatever its op.
func item(r resp, i int) map[string]any {
	m, _ := at(r.body, "items", i).(map[string]any)
	for _, v := range m {
		obj, _ := v.(map[string]any)
		return obj
	}
	return nil
}

func doc(id string, version int64, extra ...any) map[string]any {
	m := map[string]any{"entity_id": id, "title": "title of " + id, "version": version}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func ext(op, index, id string, version int64) map[string]any {
	return map[string]any{op: map[string]any{"_index": index, "_id": id, "version": version, "version_type": "external"}}
}

// wantError asserts an Elasticsearch error answer: the status, the same
// status in the body, and error.type.
func (c *client) wantError(status int, typ, method, path string, body any) resp {
	c.t.Helper()
	r := c.want(status, method, path, body)
	c.check(r, "error.type", at(r.body, "error", "type"), typ)
	c.check(r, "status", num(at(r.body, "status")), status)
	if str(at(r.body, "error", "reason")) == "" {
		c.t.Errorf("%s %s: error.reason is empty; body: %s", method, path, excerpt(r.raw))
	}
	return r
}

// total is hits.total.value of a search answer.
func total(r resp) int64 { return num(at(r.body, "hits", "total", "value")) }

// hitIDs lists the _id of each hit in order.
func hitIDs(r resp) []string {
	hits, _ := at(r.body, "hits", "hits").([]any)
	ids := make([]string, 0, len(hits))
	for _, h := range hits {
		ids = append(ids, str(at(h, "_id")))
	}
	return ids
}
