package metrics_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"firedrill/drill/metrics"
)

// scrapeBodies serves each body in turn to one target named "w" and scrapes
// it once per body, marking the scrapes m0, m1, ...
func scrapeBodies(t *testing.T, bodies ...string) (dir string, marks []time.Time) {
	t.Helper()
	dir = t.TempDir()
	tg := newRawTarget(t, "")
	s := metrics.NewScraper(dir, []metrics.Target{{Name: "w", URL: tg.url}}, time.Hour)
	defer s.Stop()
	for i, b := range bodies {
		tg.set(b)
		nextMillisecond(t, dir)
		if err := s.ScrapeNow(ctxT(t), "m"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range readLines(t, dir) {
		marks = append(marks, l.T)
	}
	return dir, marks
}

func TestBuildLikePrometheus(t *testing.T) {
	dir, at := scrapeBodies(t,
		"# TYPE c counter\nc{job=\"inner\",instance=\"a:1\"} 4 1000\n",
		"# TYPE c counter\nc{job=\"inner\",instance=\"a:1\"} 9 1000\nnot a metric line\n", // fails to parse
		"# TYPE c counter\nc{job=\"inner\",instance=\"a:1\"} 10 1000\n",
	)
	db := openDB(t, dir)
	tests := []struct {
		name string
		expr string
		at   time.Time
		want []metrics.Sample
	}{
		{"job becomes exported_job, exposition time ignored", `c`, at[0], []metrics.Sample{{
			Labels: map[string]string{"__name__": "c", "exported_job": "inner", "instance": "a:1", "job": "w"}, Value: 4,
		}}},
		{"a body that does not parse is a failed scrape", `up`, at[1], []metrics.Sample{{Labels: map[string]string{"__name__": "up", "job": "w"}, Value: 0}}},
		{"its series go stale", `c`, at[1], []metrics.Sample{}},
		{"and come back", `c`, at[2], []metrics.Sample{{
			Labels: map[string]string{"__name__": "c", "exported_job": "inner", "instance": "a:1", "job": "w"}, Value: 10,
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Query(ctxT(t), tt.expr, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeltaAcrossRestart(t *testing.T) {
	// 10 → 12 → restart → 3: the counter grew by 2, then by 3 after the reset.
	dir, at := scrapeBodies(t, "c_total 10\n", "c_total 12\n", "c_total 3\n")
	db := openDB(t, dir)
	tests := []struct {
		name     string
		from, to time.Time
		want     float64
	}{
		{"before the restart", at[0], at[1], 2},
		{"across the restart", at[0], at[2], 5},
		{"from before any scrape", at[0].Add(-time.Hour), at[1], 12},
		{"an empty window", at[1], at[1], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, n, err := db.Delta(ctxT(t), "c_total", tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.want || n != 1 {
				t.Errorf("got (%v, %d), want (%v, 1)", v, n, tt.want)
			}
		})
	}
}

func TestOpenRebuildsTheSameDB(t *testing.T) {
	dir, at := scrapeBodies(t, "a 1\nb{x=\"1\"} 2\n", "a 3\n")
	// Junk in the old TSDB must not survive a rebuild.
	if err := os.MkdirAll(filepath.Join(dir, metrics.TSDBDir, "junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A line cut short by a killed run is dropped.
	f, err := os.OpenFile(filepath.Join(dir, metrics.ScrapesFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"target":"w","t":"2`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var results [2][]metrics.Series
	for i := range results {
		db, err := metrics.Open(dir)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		results[i], err = db.QueryRange(ctxT(t), `{job="w"}`, at[0], at[1], time.Millisecond)
		if cerr := db.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(results[0], results[1]) {
		t.Errorf("second build: got %v, want %v", results[1], results[0])
	}
	if _, err := os.Stat(filepath.Join(dir, metrics.TSDBDir, "junk")); !os.IsNotExist(err) {
		t.Errorf("old tsdb content: got stat error %v, want it removed", err)
	}
}

func TestOpenRejectsACorruptLine(t *testing.T) {
	dir, _ := scrapeBodies(t, "a 1\n")
	b, err := os.ReadFile(filepath.Join(dir, metrics.ScrapesFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, metrics.ScrapesFile), append([]byte("{oops\n"), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.Open(dir); err == nil {
		t.Error("got nil error, want one for line 1")
	}
}
