package search

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"sync"
	"testing"
)

// route is one canned answer of the fake engine, keyed "METHOD /path".
type route struct {
	status int
	body   string
}

// fakeEngine answers from routes; body(key) returns the last request body
// sent to key.
func fakeEngine(t *testing.T, routes map[string]route) (c *Client, body func(key string) string) {
	t.Helper()
	var mu sync.Mutex
	bodies := map[string]string{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[key] = string(b)
		mu.Unlock()
		rt, ok := routes[key]
		if !ok {
			t.Errorf("unexpected request %s", key)
			w.WriteHeader(http.StatusTeapot)
			return
		}
		if len(b) > 0 && r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s Content-Type: got %q, want application/json", key, r.Header.Get("Content-Type"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rt.status)
		_, _ = io.WriteString(w, rt.body)
	})
	return newClient(t, Config{URL: srv.URL}), func(key string) string {
		mu.Lock()
		defer mu.Unlock()
		return bodies[key]
	}
}

const (
	notFoundIndex = `{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [nope]","resource.type":"index_or_alias","resource.id":"nope","index_uuid":"_na_","index":"nope"}],"type":"index_not_found_exception","reason":"no such index [nope]","resource.type":"index_or_alias","resource.id":"nope","index_uuid":"_na_","index":"nope"},"status":404}`
	alreadyExists = `{"error":{"root_cause":[{"type":"resource_already_exists_exception","reason":"index [docs/Dq3pTA2sQ2yJ7x0bq6lWqQ] already exists","index_uuid":"Dq3pTA2sQ2yJ7x0bq6lWqQ","index":"docs"}],"type":"resource_already_exists_exception","reason":"index [docs/Dq3pTA2sQ2yJ7x0bq6lWqQ] already exists","index_uuid":"Dq3pTA2sQ2yJ7x0bq6lWqQ","index":"docs"},"status":400}`
)

func TestInfo(t *testing.T) {
	tests := []struct {
		name, body string
		want       Info
	}{
		{"elasticsearch 7", `{"name":"es01","cluster_name":"docker-cluster","cluster_uuid":"8Qd4fMzQRnmoP0pRzMsD4g","version":{"number":"7.17.18","build_flavor":"default","build_type":"docker","lucene_version":"8.11.1","minimum_wire_compatibility_version":"6.8.0","minimum_index_compatibility_version":"6.0.0-beta1"},"tagline":"You Know, for Search"}`,
			Info{Name: "es01", ClusterName: "docker-cluster", VersionNumber: "7.17.18", Distribution: "elasticsearch"}},
		{"elasticsearch 8", `{"name":"es01","cluster_name":"docker-cluster","cluster_uuid":"q1pYt3uSSqKkQ3X9h0m8Ow","version":{"number":"8.15.0","build_flavor":"default","build_type":"docker","lucene_version":"9.11.1","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}`,
			Info{Name: "es01", ClusterName: "docker-cluster", VersionNumber: "8.15.0", Distribution: "elasticsearch"}},
		{"opensearch 2", `{"name":"opensearch-node1","cluster_name":"opensearch-cluster","cluster_uuid":"W0B8gPotTAajhMPbC9D4ww","version":{"distribution":"opensearch","number":"2.19.1","build_type":"tar","lucene_version":"9.12.1","minimum_wire_compatibility_version":"7.10.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`,
			Info{Name: "opensearch-node1", ClusterName: "opensearch-cluster", VersionNumber: "2.19.1", Distribution: "opensearch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fakeEngine(t, map[string]route{"GET /": {200, tt.body}})
			got, err := c.Info(t.Context())
			if err != nil || got != tt.want {
				t.Errorf("Info: got %+v, %v, want %+v, nil", got, err, tt.want)
			}
		})
	}
	c, _ := fakeEngine(t, map[string]route{"GET /": {200, `not json`}})
	if _, err := c.Info(t.Context()); asError(t, err).Kind != KindProtocol {
		t.Errorf("Info of a non-JSON body: got %v, want KindProtocol", err)
	}
}

func TestIndexLifecycle(t *testing.T) {
	c, bodies := fakeEngine(t, map[string]route{
		"HEAD /docs":                             {200, ""},
		"HEAD /nope":                             {404, ""},
		"HEAD /locked":                           {403, ""},
		"PUT /docs":                              {400, alreadyExists},
		"PUT /nope":                              {200, `{"acknowledged":true,"shards_acknowledged":true,"index":"nope"}`},
		"DELETE /docs":                           {200, `{"acknowledged":true}`},
		"DELETE /nope":                           {404, notFoundIndex},
		"PUT /docs/_settings":                    {200, `{"acknowledged":true}`},
		"POST /docs/_refresh":                    {200, `{"_shards":{"total":2,"successful":1,"failed":0}}`},
		"GET /docs/_settings?flat_settings=true": {200, `{"docs":{"settings":{"index.blocks.write":"true","index.number_of_shards":"1"}}}`},
		"GET /alias/_settings?flat_settings=true": {200, `{"docs-v2":{"settings":{"index.number_of_shards":"3"}}}`},
	})
	ctx := t.Context()
	for index, want := range map[string]bool{"docs": true, "nope": false} {
		if got, err := c.IndexExists(ctx, index); err != nil || got != want {
			t.Errorf("IndexExists(%s): got %v, %v, want %v, nil", index, got, err, want)
		}
	}
	if _, err := c.IndexExists(ctx, "locked"); asError(t, err).Status != 403 {
		t.Errorf("IndexExists(locked): got %v, want a status 403 *Error", err)
	}
	err := c.CreateIndex(ctx, "docs", []byte(`{"settings":{"number_of_shards":1}}`))
	if !errors.Is(err, ErrIndexExists) || asError(t, err).Type != "resource_already_exists_exception" {
		t.Errorf("CreateIndex(existing): got %v, want *Error wrapping ErrIndexExists", err)
	}
	if err := c.EnsureIndex(ctx, "docs", nil); err != nil {
		t.Errorf("EnsureIndex(existing): got %v, want nil", err)
	}
	if err := c.EnsureIndex(ctx, "nope", []byte(`{}`)); err != nil {
		t.Errorf("EnsureIndex(missing): got %v, want nil", err)
	}
	if err := c.DeleteIndex(ctx, "docs"); err != nil {
		t.Errorf("DeleteIndex: got %v, want nil", err)
	}
	if err := c.DeleteIndex(ctx, "nope"); !errors.Is(err, ErrIndexNotFound) || asError(t, err).Status != 404 {
		t.Errorf("DeleteIndex(missing): got %v, want a 404 *Error wrapping ErrIndexNotFound", err)
	}
	if err := c.PutSettings(ctx, "docs", map[string]any{"index.blocks.write": true}); err != nil {
		t.Errorf("PutSettings: got %v, want nil", err)
	}
	if got, want := bodies("PUT /docs/_settings"), `{"index.blocks.write":true}`; got != want {
		t.Errorf("PutSettings body: got %s, want %s", got, want)
	}
	if err := c.Refresh(ctx, "docs"); err != nil {
		t.Errorf("Refresh: got %v, want nil", err)
	}
	got, err := c.Settings(ctx, "docs")
	if want := map[string]any{"index.blocks.write": "true", "index.number_of_shards": "1"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Settings: got %v, %v, want %v, nil", got, err, want)
	}
	if got, err := c.Settings(ctx, "alias"); err != nil || got["index.number_of_shards"] != "3" {
		t.Errorf("Settings(alias): got %v, %v, want the one concrete index's settings", got, err)
	}
	if err := c.Refresh(ctx, ""); err == nil {
		t.Errorf("Refresh(\"\"): got nil, want an error (an empty name would hit /)")
	}
}

func TestGetAndCount(t *testing.T) {
	c, _ := fakeEngine(t, map[string]route{
		"GET /docs/_doc/a%2F1": {200, `{"_index":"docs","_id":"a/1","_version":3,"_seq_no":2,"_primary_term":1,"found":true,"_source":{"title":"x"}}`},
		"GET /docs/_doc/2":     {404, `{"_index":"docs","_id":"2","found":false}`},
		"GET /nope/_doc/1":     {404, notFoundIndex},
		"GET /docs/_count":     {200, `{"count":42,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`},
		"GET /nope/_count":     {404, notFoundIndex},
	})
	ctx := t.Context()
	doc, err := c.Get(ctx, "docs", "a/1")
	if err != nil || !doc.Found || doc.Version != 3 || string(doc.Source) != `{"title":"x"}` {
		t.Errorf("Get(found): got %+v, %v, want found v3 source {\"title\":\"x\"}", doc, err)
	}
	if doc, err := c.Get(ctx, "docs", "2"); err != nil || doc.Found {
		t.Errorf("Get(missing doc): got %+v, %v, want Found=false, nil", doc, err)
	}
	_, err = c.Get(ctx, "nope", "1")
	if e := asError(t, err); e.Kind != KindStatus || e.Status != 404 || e.Type != "index_not_found_exception" || e.Reason != "no such index [nope]" {
		t.Errorf("Get(missing index): got %+v, want 404 index_not_found_exception", e)
	}
	if n, err := c.Count(ctx, "docs"); err != nil || n != 42 {
		t.Errorf("Count: got %d, %v, want 42, nil", n, err)
	}
	if _, err := c.Count(ctx, "nope"); !errors.Is(err, ErrIndexNotFound) {
		t.Errorf("Count(missing index): got %v, want ErrIndexNotFound", err)
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		body, typ, reason string
	}{
		{`{"error":{"type":"t","reason":"r"},"status":500}`, "t", "r"},
		{`{"error":{"root_cause":[{"type":"rt","reason":"rr"}]},"status":500}`, "rt", "rr"},
		{`{"error":"plain text"}`, "", "plain text"},
		{`{"error":null}`, "", ""},
		{`{"found":false}`, "", ""},
		{"upstream\nconnect error", "", "upstream connect error"},
		{`{"error":[1,2]}`, "", "[1,2]"},
	}
	for _, tt := range tests {
		if typ, reason := parseErrorBody([]byte(tt.body)); typ != tt.typ || reason != tt.reason {
			t.Errorf("parseErrorBody(%s): got %q, %q, want %q, %q", tt.body, typ, reason, tt.typ, tt.reason)
		}
	}
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'x'
	}
	if _, reason := parseErrorBody(long); len(reason) != maxReasonLen+3 {
		t.Errorf("long body excerpt: got %d bytes, want %d", len(reason), maxReasonLen+3)
	}
}

func TestURLPrefix(t *testing.T) {
	paths := make(chan string, 2)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.EscapedPath()
		_, _ = io.WriteString(w, `{"took":1,"errors":false,"items":[{"index":{"status":201}}],"count":1}`)
	})
	c := newClient(t, Config{URL: srv.URL + "/engine/"})
	if _, err := c.Bulk(t.Context(), dummyItems(1), ""); err != nil {
		t.Fatalf("Bulk: got %v, want nil", err)
	}
	if _, err := c.Count(t.Context(), "docs"); err != nil {
		t.Fatalf("Count: got %v, want nil", err)
	}
	for _, want := range []string{"/engine/_bulk", "/engine/docs/_count"} {
		if got := <-paths; got != want {
			t.Errorf("path: got %s, want %s", got, want)
		}
	}
}
