package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"firedrill/outbox"
	"firedrill/outbox/outboxtest"
	"firedrill/projector/projectortest"
	"firedrill/search"
	"firedrill/store"
)

// blockingEngine holds the first _bulk request until its client goes away,
// so the projector that sent it is mid-batch for as long as the test wants.
func blockingEngine(t *testing.T) (*projectortest.Engine, string, <-chan struct{}) {
	e := projectortest.New()
	held := make(chan struct{})
	var once sync.Once
	e.Before = func(ctx context.Context, _ []search.BulkItem) error {
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		close(held)
		<-ctx.Done()
		return ctx.Err()
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv.URL, held
}

func waitAddr(t *testing.T, file string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no address in %s", file)
	return ""
}

// scrape reads the value of each unlabelled series and each labelled one
// keyed by its full name{labels} from a /metrics endpoint.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func waitDone(t *testing.T, s outbox.Store, n int64, d time.Duration) {
	const status = outbox.StatusDone
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := s.Stats(context.Background())
		if err == nil && st.Counts[status] == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: stats %+v, want %d %s", d, st.Counts, n, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIGKILLedProjectorIsReclaimed: a projector holding a claimed batch is
// SIGKILLed; another one reclaims it after the lease expires and every event
// ends done, with the engine holding each row at its newest version.
func TestSIGKILLedProjectorIsReclaimed(t *testing.T) {
	for _, a := range outboxtest.Adapters(t) {
		t.Run(a.Name, func(t *testing.T) {
			dsn := a.DSN(t)
			dir := t.TempDir()
			ctx := context.Background()
			if code, _, stderr := runCLI(ctx, "load", "--db", dsn, "--entities", "120", "--seed", "4", "--prefix", "k-"); code != 0 {
				t.Fatalf("load: exit %d: %s", code, stderr)
			}
			s, err := store.Open(ctx, dsn, outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			total := countAll(t, s)
			engine, url, held := blockingEngine(t)
			victim, logs := child(t, "projector", "--db", dsn, "--search-url", url, "--batch-size", "50",
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
			if st, _ := s.Stats(ctx); st.Counts[outbox.StatusProcessing] != 50 {
				t.Fatalf("after SIGKILL: got %d processing, want the victim's 50", st.Counts[outbox.StatusProcessing])
			}
			addrFile := filepath.Join(dir, "addr")
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan int, 1)
			go func() {
				code, _, _ := runCLI(rctx, "projector", "--db", dsn, "--search-url", url, "--batch-size", "50",
					"--lease", "1500ms", "--bulk-timeout", "1s", "--metrics-addr", "127.0.0.1:0", "--addr-file", addrFile,
					"--worker-id", "rescuer", "--log-level", "error")
				done <- code
			}()
			addr := waitAddr(t, addrFile)
			waitDone(t, s, total, time.Minute)
			m := scrape(t, addr)
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("rescuer exit code %d, want 0", code)
			}
			if got := m["outbox_reclaimed_total"]; got != 50 {
				t.Errorf("rescuer outbox_reclaimed_total: got %v, want 50", got)
			}
			assertEngineMatchesSources(t, s, engine, "k-", 120)
		})
	}
}

// TestSIGTERMReleasesTheBatch: SIGTERM while the bulk hangs past the grace
// period hands the batch back (pending, attempt given back) and exits 0.
func TestSIGTERMReleasesTheBatch(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "o.db")
	ctx := context.Background()
	if code, _, stderr := runCLI(ctx, "load", "--db", dsn, "--entities", "30", "--update-ratio", "0", "--delete-ratio", "0"); code != 0 {
		t.Fatalf("load: %s", stderr)
	}
	_, url, held := blockingEngine(t)
	p, logs := child(t, "projector", "--db", dsn, "--search-url", url, "--batch-size", "10", "--lease", "1m",
		"--bulk-timeout", "50s", "--shutdown-grace", "300ms", "--metrics-addr", "127.0.0.1:0")
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("no bulk; logs:\n%s", logs)
	}
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("projector after SIGTERM: %v; logs:\n%s", err, logs)
	}
	s, err := store.Open(ctx, dsn, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := s.Stats(ctx)
	if st.Counts[outbox.StatusPending] != 30 || st.Counts[outbox.StatusProcessing] != 0 {
		t.Fatalf("after SIGTERM: got %v, want all 30 pending (batch released)", st.Counts)
	}
	if !strings.Contains(logs.String(), `"result":"released"`) {
		t.Fatalf("no released ack lines in logs:\n%s", logs)
	}
}

func countAll(t *testing.T, s outbox.Store) int64 {
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, v := range st.Counts {
		n += v
	}
	return n
}

func assertEngineMatchesSources(t *testing.T, s outbox.Store, e *projectortest.Engine, prefix string, n int) {
	t.Helper()
	ids := make([]string, n)
	width := len(fmt.Sprint(n - 1))
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%0*d", prefix, width, i)
	}
	docs, err := s.Sources(context.Background(), ids)
	if err != nil || len(docs) != n {
		t.Fatalf("sources: %d rows, %v; want %d", len(docs), err, n)
	}
	for _, d := range docs {
		v, live := e.Doc("firedrill-search", d.EntityID)
		if live == d.Deleted || (live && v != d.Version) {
			t.Errorf("entity %s: engine has version %d live=%v; source has version %d deleted=%v", d.EntityID, v, live, d.Version, d.Deleted)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
