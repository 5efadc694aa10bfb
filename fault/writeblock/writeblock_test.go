package writeblock_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"firedrill/fault"
	"firedrill/fault/faulttest"
	"firedrill/fault/writeblock"
	"firedrill/search"
	"firedrill/search/searchtest"
)

// engines are the engines every write block test runs against.
var engines = []struct {
	name string
	url  func(testing.TB) string
}{{"searchd", searchtest.Searchd}, {"opensearch", searchtest.OpenSearchURL}}

func TestBlockRejectsWrites(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, c, index := newIndex(t, e.url(t))
			reg := prometheus.NewRegistry()
			j := &fault.Journal{Dir: t.TempDir()}
			inj, err := writeblock.New(writeblock.Config{Search: cfg, Index: index, Metrics: fault.NewMetrics(reg), Journal: j})
			if err != nil {
				t.Fatal(err)
			}
			revert, err := inj.Apply(ctx)
			if err != nil {
				t.Fatalf("Apply: got %v, want nil", err)
			}
			if st := settings(t, c, index); st["index.blocks.write"] != "true" {
				t.Errorf("settings while blocked: got index.blocks.write %v, want \"true\"", st["index.blocks.write"])
			}
			recs, err := j.List()
			if err != nil || len(recs) != 1 || recs[0].Data["index"] != index || recs[0].Data["url"] != cfg.URL {
				t.Fatalf("journal while blocked: got %+v, %v; want one record for %s at %s", recs, err, index, cfg.URL)
			}
			res := bulk(t, c, index, "a")
			if it := res.Items[0]; it.Status != 403 || it.ErrorType != "cluster_block_exception" {
				t.Errorf("write while blocked: got %d %s, want 403 cluster_block_exception", it.Status, it.ErrorType)
			}
			if d, err := c.Get(ctx, index, "a"); err != nil || d.Found {
				t.Errorf("get a while blocked: got %+v, %v; want not found", d, err)
			}
			if err := revert(ctx); err != nil {
				t.Fatalf("Revert: got %v, want nil", err)
			}
			if err := revert(ctx); err != nil {
				t.Errorf("second Revert: got %v, want nil", err)
			}
			if v, has := settings(t, c, index)["index.blocks.write"]; has {
				t.Errorf("settings after Revert: got index.blocks.write %v, want it reset (absent)", v)
			}
			if it := bulk(t, c, index, "a").Items[0]; it.Status != 201 {
				t.Errorf("write after Revert: got %d %s, want 201", it.Status, it.ErrorType)
			}
			if d, err := c.Get(ctx, index, "a"); err != nil || !d.Found {
				t.Errorf("get a after Revert: got %+v, %v; want found", d, err)
			}
			if recs, err := j.List(); err != nil || len(recs) != 0 {
				t.Errorf("journal after Revert: got %+v, %v; want empty", recs, err)
			}
			if got := faulttest.Injected(t, reg, fault.KindWriteBlock); got != 1 {
				t.Errorf("injected write_block: got %v, want 1", got)
			}
		})
	}
}

func TestRecoverLiftsAStaleBlock(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, c, index := newIndex(t, e.url(t))
			j := &fault.Journal{Dir: t.TempDir()}
			inj, err := writeblock.New(writeblock.Config{Search: cfg, Index: index, Journal: j})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inj.Apply(ctx); err != nil {
				t.Fatal(err)
			}
			// The owner "crashes" without reverting.
			staleRecord(t, j)
			if it := bulk(t, c, index, "a").Items[0]; it.Status != 403 {
				t.Fatalf("write before Recover: got %d, want 403", it.Status)
			}
			done, err := j.Recover(ctx, map[fault.Kind]fault.Repairer{fault.KindWriteBlock: writeblock.Repair})
			if err != nil || len(done) != 1 {
				t.Fatalf("Recover: got %d repaired, %v; want 1, nil", len(done), err)
			}
			if it := bulk(t, c, index, "b").Items[0]; it.Status != 201 {
				t.Errorf("write after Recover: got %d %s, want 201", it.Status, it.ErrorType)
			}
			if recs, err := j.List(); err != nil || len(recs) != 0 {
				t.Errorf("journal after Recover: got %+v, %v; want empty", recs, err)
			}
		})
	}
}

func TestApplyToAMissingIndex(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			j := &fault.Journal{Dir: t.TempDir()}
			cfg := search.Config{URL: e.url(t), Timeout: 30 * time.Second}
			inj, err := writeblock.New(writeblock.Config{Search: cfg, Index: "no-such-index-" + suffix(), Journal: j})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inj.Apply(context.Background()); !errors.Is(err, search.ErrIndexNotFound) {
				t.Errorf("Apply: got %v, want search.ErrIndexNotFound", err)
			}
			if recs, err := j.List(); err != nil || len(recs) != 0 {
				t.Errorf("journal after a failed Apply: got %+v, %v; want empty", recs, err)
			}
		})
	}
}

// newIndex creates a fresh index on the engine at u; it is unblocked and
// deleted when the test ends.
func newIndex(t *testing.T, u string) (search.Config, *search.Client, string) {
	t.Helper()
	cfg := search.Config{URL: u, Timeout: 30 * time.Second}
	c, err := search.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	index := "writeblock-" + suffix()
	t.Cleanup(func() {
		ctx := context.Background()
		_ = c.PutSettings(ctx, index, map[string]any{"index.blocks.write": nil})
		_ = c.DeleteIndex(ctx, index)
		c.CloseIdleConnections()
	})
	if err := c.CreateIndex(context.Background(), index, nil); err != nil {
		t.Fatal(err)
	}
	return cfg, c, index
}

func suffix() string {
	return fmt.Sprintf("%d", time.Now().UnixNano())
}

func bulk(t *testing.T, c *search.Client, index, id string) search.BulkResult {
	t.Helper()
	res, err := c.Bulk(context.Background(), []search.BulkItem{{Op: "index", Index: index, ID: id, Doc: map[string]any{"title": id}}}, "")
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("bulk: got %+v, %v; want one item", res, err)
	}
	return res
}

func settings(t *testing.T, c *search.Client, index string) map[string]any {
	t.Helper()
	st, err := c.Settings(context.Background(), index)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// staleRecord rewrites j's only record as owned by a process that is gone.
func staleRecord(t *testing.T, j *fault.Journal) fault.Record {
	t.Helper()
	recs, err := j.List()
	if err != nil || len(recs) != 1 {
		t.Fatalf("journal: got %+v, %v; want one record", recs, err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	r.OwnerPID, r.OwnerStart = cmd.Process.Pid, ""
	if _, _, err := j.Add(r); err != nil {
		t.Fatal(err)
	}
	return r
}
