package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"firedrill/outbox"
	"firedrill/outbox/outboxtest"
	"firedrill/search"
	"firedrill/search/searchtest"
	"firedrill/store"
)

// engine is a real search engine a test projects into.
type engine struct {
	name string
	url  string
}

// engines returns searchd (a `firedrill searchd` child process) and the test
// OpenSearch node; without one, the OpenSearch half skips (fails under CI).
func engines(t *testing.T) []engine {
	t.Helper()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	_, logs := child(t, "searchd", "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0", "--addr-file", addrFile)
	addr := waitAddrOr(t, addrFile, logs)
	return []engine{{"searchd", "http://" + addr}, {"opensearch", ""}}
}

// resolve returns the engine's URL, skipping when it is not available.
func (e engine) resolve(t *testing.T) string {
	if e.url != "" {
		return e.url
	}
	return searchtest.OpenSearchURL(t)
}

func readTrim(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func waitAddrOr(t *testing.T, file string, logs *output) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if a := readTrim(file); a != "" {
			return a
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no address in %s; logs:\n%s", file, logs)
	return ""
}

// uniqueIndex is a fresh index name, deleted from the engine when the test ends.
func uniqueIndex(t *testing.T, c *search.Client) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "e2e-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { _ = c.DeleteIndex(context.Background(), name) })
	return name
}

func newSearchClient(t *testing.T, u string) *search.Client {
	t.Helper()
	c, err := search.New(search.Config{URL: u, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertEngineHoldsSources checks every source row of the load against the
// engine: live rows at their newest version and searchable, deleted rows absent.
func assertEngineHoldsSources(t *testing.T, s outbox.Store, c *search.Client, index, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	width := len(fmt.Sprint(n - 1))
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%0*d", prefix, width, i)
	}
	docs, err := s.Sources(ctx, ids)
	if err != nil || len(docs) != n {
		t.Fatalf("sources: %d rows, %v; want %d", len(docs), err, n)
	}
	live := int64(0)
	for _, d := range docs {
		got, err := c.Get(ctx, index, d.EntityID)
		if err != nil {
			t.Fatalf("get %s: %v", d.EntityID, err)
		}
		if d.Deleted {
			if got.Found {
				t.Errorf("entity %s: deleted at version %d in the source, still in the engine at %d", d.EntityID, d.Version, got.Version)
			}
			continue
		}
		live++
		if !got.Found || got.Version != d.Version {
			t.Errorf("entity %s: engine has found=%v version %d, source has version %d", d.EntityID, got.Found, got.Version, d.Version)
			continue
		}
		var src struct {
			Title   string `json:"title"`
			Version int64  `json:"version"`
		}
		if err := json.Unmarshal(got.Source, &src); err != nil || src.Title != d.Title || src.Version != d.Version {
			t.Errorf("entity %s: engine _source %s, source title %q version %d", d.EntityID, got.Source, d.Title, d.Version)
		}
	}
	if err := c.Refresh(ctx, index); err != nil {
		t.Fatal(err)
	}
	if cnt, err := c.Count(ctx, index); err != nil || cnt != live {
		t.Errorf("count after refresh: got %d (%v), want %d live rows", cnt, err, live)
	}
}

func loadRows(t *testing.T, dsn, prefix string, n, seed int) (outbox.Store, int64) {
	t.Helper()
	ctx := context.Background()
	if code, _, stderr := runCLI(ctx, "load", "--db", dsn, "--entities", itoa(n), "--seed", itoa(seed), "--prefix", prefix); code != 0 {
		t.Fatalf("load: exit %d: %s", code, stderr)
	}
	s, err := store.Open(ctx, dsn, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, countAll(t, s)
}

// TestProjectionIntoRealEngines: load → project → every source row is in the
// engine at its newest version, searchable after a refresh, deletes absent.
func TestProjectionIntoRealEngines(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			u := e.resolve(t)
			sc := newSearchClient(t, u)
			index := uniqueIndex(t, sc)
			dsn := filepath.Join(t.TempDir(), "o.db")
			s, total := loadRows(t, dsn, "p-", 400, 11)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan string, 1)
			go func() {
				code, _, stderr := runCLI(ctx, "projector", "--db", dsn, "--search-url", u, "--index", index,
					"--batch-size", "50", "--metrics-addr", "127.0.0.1:0", "--log-level", "error")
				done <- fmt.Sprintf("exit %d: %s", code, stderr)
			}()
			waitDone(t, s, total, 2*time.Minute)
			cancel()
			if got := <-done; !strings.HasPrefix(got, "exit 0") {
				t.Fatalf("projector: %s", got)
			}
			assertEngineHoldsSources(t, s, sc, index, "p-", 400)
		})
	}
}

// TestFourProjectorsRaceIntoRealEngines: four projector processes share one
// outbox; every event is done exactly once (one done ack line across all
// logs) and the engine matches the source.
func TestFourProjectorsRaceIntoRealEngines(t *testing.T) {
	for _, e := range engines(t) {
		for _, a := range outboxtest.Adapters(t) {
			t.Run(e.name+"/"+a.Name, func(t *testing.T) {
				u := e.resolve(t)
				sc := newSearchClient(t, u)
				index := uniqueIndex(t, sc)
				dsn := a.DSN(t)
				s, total := loadRows(t, dsn, "r-", 1000, 5)
				var logs []*output
				var procs []*exec.Cmd
				for i := range 4 {
					p, l := child(t, "projector", "--db", dsn, "--search-url", u, "--index", index, "--batch-size", "25",
						"--poll-interval", "10ms", "--metrics-addr", "127.0.0.1:0", "--worker-id", fmt.Sprintf("w%d", i))
					logs = append(logs, l)
					procs = append(procs, p)
				}
				waitDone(t, s, total, 3*time.Minute)
				// Stop them before reading their logs: every line is written then.
				for i, p := range procs {
					if err := p.Process.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
					if err := p.Wait(); err != nil {
						t.Fatalf("w%d after SIGTERM: %v", i, err)
					}
				}
				doneBy := map[string][]string{}
				for i, l := range logs {
					for _, id := range doneEventIDs(t, l) {
						doneBy[id] = append(doneBy[id], fmt.Sprintf("w%d", i))
					}
				}
				if int64(len(doneBy)) != total {
					t.Errorf("done ack lines name %d distinct events, want %d", len(doneBy), total)
				}
				for id, who := range doneBy {
					if len(who) != 1 {
						t.Errorf("event %s acked done %d times, by %v", id, len(who), who)
					}
				}
				assertEngineHoldsSources(t, s, sc, index, "r-", 1000)
			})
		}
	}
}

// doneEventIDs lists the outbox_event_id of every done ack line in the log
// of a process that has exited.
func doneEventIDs(t *testing.T, l *output) []string {
	t.Helper()
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(l.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Result string `json:"result"`
			ID     string `json:"outbox_event_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "ack" && line.Result == "done" {
			ids = append(ids, line.ID)
		}
	}
	return ids
}

// ackHoldingProxy forwards requests to upstream; the first _bulk is applied
// by the engine but its answer is held until the client goes away, so the
// projector that sent it dies with its writes applied and its batch unacked.
func ackHoldingProxy(t *testing.T, upstream string) (string, <-chan struct{}) {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	held := make(chan struct{})
	var once sync.Once
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/_bulk") {
			return nil
		}
		first := false
		once.Do(func() { first = true })
		if first {
			close(held)
			<-resp.Request.Context().Done()
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL, held
}

// TestSIGKILLMidBatchIntoRealEngines: a projector is SIGKILLed after its bulk
// was applied but before it acked; a second projector reclaims the batch
// after the lease, rewrites it (409s are done as stale) and the engine ends
// at every row's newest version.
func TestSIGKILLMidBatchIntoRealEngines(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			u := e.resolve(t)
			sc := newSearchClient(t, u)
			index := uniqueIndex(t, sc)
			dsn := filepath.Join(t.TempDir(), "o.db")
			s, total := loadRows(t, dsn, "k-", 150, 8)
			proxy, held := ackHoldingProxy(t, u)
			victim, logs := child(t, "projector", "--db", dsn, "--search-url", proxy, "--index", index, "--batch-size", "50",
				"--lease", "1500ms", "--bulk-timeout", "1s", "--metrics-addr", "127.0.0.1:0", "--worker-id", "victim")
			select {
			case <-held:
			case <-time.After(30 * time.Second):
				t.Fatalf("victim never sent a bulk; its logs:\n%s", logs)
			}
			if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = victim.Wait()
			if st, _ := s.Stats(context.Background()); st.Counts[outbox.StatusProcessing] != 50 {
				t.Fatalf("after SIGKILL: got %d processing, want the victim's 50", st.Counts[outbox.StatusProcessing])
			}
			// The victim's writes were applied: the batch is in the engine, unacked.
			if err := sc.Refresh(context.Background(), index); err != nil {
				t.Fatal(err)
			}
			if n, err := sc.Count(context.Background(), index); err != nil || n == 0 {
				t.Fatalf("after the kill the engine holds %d documents (%v), want the victim's applied batch", n, err)
			}
			addrFile := filepath.Join(t.TempDir(), "addr")
			_, rlogs := child(t, "projector", "--db", dsn, "--search-url", u, "--index", index, "--batch-size", "50",
				"--lease", "1500ms", "--bulk-timeout", "1s", "--metrics-addr", "127.0.0.1:0", "--addr-file", addrFile, "--worker-id", "rescuer")
			addr := waitAddrOr(t, addrFile, rlogs)
			waitDone(t, s, total, 2*time.Minute)
			m := scrape(t, addr)
			if got := m["outbox_reclaimed_total"]; got != 50 {
				t.Errorf("rescuer outbox_reclaimed_total: got %v, want 50", got)
			}
			assertEngineHoldsSources(t, s, sc, index, "k-", 150)
		})
	}
}
