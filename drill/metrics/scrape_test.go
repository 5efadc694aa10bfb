package metrics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"firedrill/drill/metrics"
)

// line is one line of the raw format, as documented.
type line struct {
	Target      string    `json:"target"`
	URL         string    `json:"url"`
	T           time.Time `json:"t"`
	Mark        string    `json:"mark"`
	ContentType string    `json:"content_type"`
	Body        string    `json:"body"`
	Error       string    `json:"error"`
}

// readLines decodes dir's scrape file, failing on any torn line; none when
// the file does not exist.
func readLines(t testing.TB, dir string) []line {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, metrics.ScrapesFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScrapeNowRecordsEveryTarget(t *testing.T) {
	ctx := ctxT(t)
	dir := filepath.Join(t.TempDir(), "_metrics")
	up := newComponent(t)
	up.failed.WithLabelValues("es_4xx").Add(2)
	s := metrics.NewScraper(dir, []metrics.Target{{Name: "projector-0", URL: up.url}, {Name: "fault-proxy", URL: downURL(t)}}, time.Hour)
	defer s.Stop()

	err := s.ScrapeNow(ctx, "baseline")
	if err == nil || !strings.Contains(err.Error(), "fault-proxy") {
		t.Fatalf("ScrapeNow error: got %v, want one naming fault-proxy", err)
	}
	ls := readLines(t, dir)
	if len(ls) != 2 {
		t.Fatalf("lines: got %d, want 2", len(ls))
	}
	byTarget := map[string]line{}
	for _, l := range ls {
		byTarget[l.Target] = l
		if l.Mark != "baseline" {
			t.Errorf("%s mark: got %q, want baseline", l.Target, l.Mark)
		}
	}
	if !byTarget["projector-0"].T.Equal(byTarget["fault-proxy"].T) {
		t.Errorf("round times: got %s and %s, want one time", byTarget["projector-0"].T, byTarget["fault-proxy"].T)
	}
	p := byTarget["projector-0"]
	if p.Error != "" || !strings.Contains(p.Body, `outbox_failed_total{reason="es_4xx"} 2`) || p.URL != up.url {
		t.Errorf("projector-0: got error %q url %q body %q, want the counter at 2", p.Error, p.URL, p.Body)
	}
	if f := byTarget["fault-proxy"]; f.Error == "" || f.Body != "" {
		t.Errorf("fault-proxy: got error %q body %q, want an error and no body", f.Error, f.Body)
	}
}

func TestMarkRecordsTimeWithoutScraping(t *testing.T) {
	dir := t.TempDir()
	s := metrics.NewScraper(dir, []metrics.Target{{Name: "x", URL: downURL(t)}}, time.Hour)
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	if err := s.Mark("fault_start", at); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark("", at); err == nil {
		t.Error("Mark with no name: got nil error, want one")
	}
	ls := readLines(t, dir)
	if len(ls) != 1 {
		t.Fatalf("lines: got %d, want 1", len(ls))
	}
	if l := ls[0]; l.Target != "" || l.Mark != "fault_start" || !l.T.Equal(at) || l.T.Location() != time.UTC {
		t.Errorf("got %+v, want a target-less fault_start line at %s in UTC", l, at)
	}
}

func TestLoopScrapesUntilStopped(t *testing.T) {
	dir := t.TempDir()
	c := newComponent(t)
	s := metrics.NewScraper(dir, []metrics.Target{{Name: "projector-0", URL: c.url}, {Name: "gone", URL: downURL(t)}}, 5*time.Millisecond)
	s.Start(ctxT(t))
	s.Start(ctxT(t)) // a second Start does nothing
	deadline := time.Now().Add(10 * time.Second)
	for countLines(t, dir) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("lines after 10s: got %d, want ≥ 6", countLines(t, dir))
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	s.Stop()
	s.Stop()
	n := countLines(t, dir)
	if again := countLines(t, dir); again != n {
		t.Fatalf("lines after Stop: got %d then %d, want no more writes", n, again)
	}
	for _, l := range readLines(t, dir) {
		if l.Mark != "" {
			t.Errorf("periodic scrape mark: got %q, want none", l.Mark)
		}
		if (l.Target == "gone") != (l.Error != "") {
			t.Errorf("%s error: got %q", l.Target, l.Error)
		}
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err: got %v, want nil", err)
	}
	s.Start(ctxT(t)) // after Stop: nothing starts, goleak checks
}

func TestStopWithoutStart(t *testing.T) {
	s := metrics.NewScraper(t.TempDir(), nil, 0)
	s.Stop()
	s.Stop()
}

func TestLoopEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	c := newComponent(t)
	ctx, cancel := context.WithCancel(t.Context())
	s := metrics.NewScraper(dir, []metrics.Target{{Name: "p", URL: c.url}}, time.Millisecond)
	s.Start(ctx)
	cancel()
	s.Stop() // returns only once the loop has ended
	for _, l := range readLines(t, dir) {
		if l.Error != "" {
			t.Errorf("scrape cut short by the end: got error %q recorded, want none", l.Error)
		}
	}
}

func TestConcurrentWritesKeepLinesWhole(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	c := newComponent(t)
	s := metrics.NewScraper(dir, []metrics.Target{{Name: "a", URL: c.url}, {Name: "b", URL: c.url}}, time.Millisecond)
	s.Start(ctx)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 5 {
				c.failed.WithLabelValues("x").Inc()
				if err := s.ScrapeNow(ctx, "m"); err != nil {
					t.Errorf("ScrapeNow %d: %v", i, err)
				}
				if err := s.Mark("k", time.Now()); err != nil {
					t.Errorf("Mark %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	s.Stop()
	marked := 0
	for _, l := range readLines(t, dir) { // fails on a torn line
		if l.Mark == "m" {
			marked++
		}
	}
	if marked != 4*5*2 {
		t.Errorf("marked scrapes: got %d, want %d", marked, 4*5*2)
	}
}
