package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"firedrill/drill/metrics"
)

// TestMain fails the package when a goroutine outlives the tests: the
// scrape loop, its HTTP connections and the TSDB must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// component is a scrape target backed by a real registry, like a projector.
type component struct {
	failed  *prometheus.CounterVec
	pending *prometheus.GaugeVec
	latency prometheus.Histogram
	url     string
}

func newComponent(t testing.TB) *component {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := &component{
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_failed_total", Help: "Events failed for good.",
		}, []string{"reason"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "outbox_pending_events", Help: "Events waiting.",
		}, []string{"shard"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "outbox_event_latency_seconds", Help: "Created to done.", Buckets: []float64{0.1, 1},
		}),
	}
	reg.MustRegister(c.failed, c.pending, c.latency)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	c.url = srv.URL + "/metrics"
	return c
}

// rawTarget serves whatever exposition text was last set.
type rawTarget struct {
	body atomic.Pointer[string]
	url  string
}

func newRawTarget(t testing.TB, body string) *rawTarget {
	t.Helper()
	r := &rawTarget{}
	r.set(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(*r.body.Load()))
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/metrics"
	return r
}

func (r *rawTarget) set(body string) { r.body.Store(&body) }

// downURL is the URL of a server that no longer listens.
func downURL(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL + "/metrics"
}

// countLines reads dir's scrape file; 0 when it does not exist yet.
func countLines(t testing.TB, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, metrics.ScrapesFile))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func openDB(t testing.TB, dir string) *metrics.DB {
	t.Helper()
	db, err := metrics.Open(dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

// nextMillisecond returns once the clock has left the millisecond of the
// last scrape in dir, so that the next scrape gets its own timestamp in the
// TSDB (which keeps milliseconds: the first scrape of a millisecond wins).
func nextMillisecond(t testing.TB, dir string) {
	t.Helper()
	ls := readLines(t, dir)
	if len(ls) == 0 {
		return
	}
	last := ls[len(ls)-1].T.Truncate(time.Millisecond)
	for !time.Now().Truncate(time.Millisecond).After(last) {
		runtime.Gosched()
	}
}
