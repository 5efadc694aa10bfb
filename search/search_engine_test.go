package search_test

import (
	"context"
	"testing"
	"time"

	"firedrill/search"
	"firedrill/search/searchtest"
)

// TestClientAgainstRealEngines runs the client's calls against searchd and
// the test OpenSearch node: index creation, bulk, get, refresh, count,
// search, settings.
func TestClientAgainstRealEngines(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"searchd", searchtest.Searchd}, {"opensearch", searchtest.OpenSearchURL}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, err := search.New(search.Config{URL: tc.url(t), Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			index := "client-" + time.Now().UTC().Format("150405.000000")
			t.Cleanup(func() { _ = c.DeleteIndex(context.Background(), index) })
			if err := c.EnsureIndex(ctx, index, []byte(`{"mappings":{"properties":{"tag":{"type":"keyword"}}}}`)); err != nil {
				t.Fatal(err)
			}
			if err := c.EnsureIndex(ctx, index, nil); err != nil {
				t.Fatalf("EnsureIndex on an existing index: %v", err)
			}
			items := []search.BulkItem{
				{Op: "index", Index: index, ID: "a", Version: 2, VersionType: "external", Doc: map[string]any{"tag": "x"}},
				{Op: "index", Index: index, ID: "b", Version: 1, VersionType: "external", Doc: map[string]any{"tag": "y"}},
				{Op: "index", Index: index, ID: "a", Version: 1, VersionType: "external", Doc: map[string]any{"tag": "old"}},
				{Op: "delete", Index: index, ID: "zz", Version: 3, VersionType: "external"},
			}
			res, err := c.Bulk(ctx, items, "true")
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []int{201, 201, 409, 404} {
				if got := res.Items[i].Status; got != want {
					t.Errorf("item %d: got status %d, want %d", i, got, want)
				}
			}
			if res.Items[2].ErrorType != "version_conflict_engine_exception" {
				t.Errorf("stale item: got error type %q, want version_conflict_engine_exception", res.Items[2].ErrorType)
			}
			d, err := c.Get(ctx, index, "a")
			if err != nil || !d.Found || d.Version != 2 {
				t.Errorf("get a: got %+v, %v; want found at version 2", d, err)
			}
			if d, err := c.Get(ctx, index, "zz"); err != nil || d.Found {
				t.Errorf("get zz: got %+v, %v; want not found, no error", d, err)
			}
			if n, err := c.Count(ctx, index); err != nil || n != 2 {
				t.Errorf("count: got %d, %v; want 2", n, err)
			}
			sr, err := c.Search(ctx, index, map[string]any{"query": map[string]any{"term": map[string]any{"tag": "y"}}})
			if err != nil || sr.Total != 1 || len(sr.Hits) != 1 || sr.Hits[0].ID != "b" {
				t.Errorf("search tag:y: got %+v, %v; want the one hit b", sr, err)
			}
			if err := c.PutSettings(ctx, index, map[string]any{"index.blocks.write": true}); err != nil {
				t.Fatal(err)
			}
			st, err := c.Settings(ctx, index)
			if err != nil {
				t.Fatal(err)
			}
			if st["index.blocks.write"] != "true" {
				t.Errorf("settings: got index.blocks.write %v, want \"true\"", st["index.blocks.write"])
			}
			if err := c.PutSettings(ctx, index, map[string]any{"index.blocks.write": nil}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
