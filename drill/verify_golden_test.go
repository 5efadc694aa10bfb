package drill

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firedrill/drill/bundle"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// fixtureBundle unpacks testdata/bundle-fixture_429.tar.gz: the evidence of
// a real run of a small es_429_inject (the engine, the database and the
// derived files removed), so verify is tested offline on a stored bundle.
func fixtureBundle(t *testing.T) bundle.Bundle {
	t.Helper()
	root := t.TempDir()
	f, err := os.Open("testdata/bundle-fixture_429.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Fatalf("fixture entry %s leaves the root", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := bundle.Find(root, bundle.DefaultLab, "fixture_429", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r.Bundle
}

func TestVerifyStoredBundleMatchesGolden(t *testing.T) {
	b := fixtureBundle(t)
	res, err := Verify(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/result-fixture_429.golden.json"
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("_result.json differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
	if res.Verdict != VerdictPass || len(res.Checks) != 8 {
		t.Fatalf("got %s with %d checks, want PASS with 8 (7 of the scenario + drained)", res.Verdict, len(res.Checks))
	}
	written, err := os.ReadFile(b.Path(bundle.ResultFile))
	if err != nil || !bytes.Equal(bytes.TrimSpace(written), got) {
		t.Errorf("the _result.json verify wrote differs from its result (%v)", err)
	}
	// Again, from the same bundle: the same result, byte for byte.
	res2, err := Verify(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := json.MarshalIndent(res2, "", "  "); !bytes.Equal(again, got) {
		t.Errorf("a second verify of the same bundle differs:\n%s", again)
	}
}

// Broken evidence must change the verdict: each check can fail offline.
func TestVerifyStoredBundleWithBrokenEvidence(t *testing.T) {
	tests := []struct {
		name      string
		breakIt   func(t *testing.T, b bundle.Bundle)
		verdict   string
		failCheck string
	}{
		{"an entity missing from the engine", func(t *testing.T, b bundle.Bundle) {
			editJSON(t, b.Path(ConsistencyFile), func(m map[string]any) {
				ents := m["entities"].([]any)
				for _, e := range ents {
					if e := e.(map[string]any); e["source_deleted"] == false {
						e["engine_found"] = false
						return
					}
				}
			})
		}, VerdictFail, "nothing lost"},
		{"the fault never fired", func(t *testing.T, b bundle.Bundle) {
			editJSON(t, b.Path(RunInfoFile), func(m map[string]any) { m["fault_injected"] = 0 })
		}, VerdictInconclusive, ""},
		{"the drain missed its deadline", func(t *testing.T, b bundle.Bundle) {
			editJSON(t, b.Path(RunInfoFile), func(m map[string]any) { m["drained"] = false })
		}, VerdictFail, "drained within the deadline"},
		{"no spans collected", func(t *testing.T, b bundle.Bundle) {
			if err := os.RemoveAll(b.Path(bundle.TracesDir)); err != nil {
				t.Fatal(err)
			}
		}, VerdictInconclusive, "batch spans carry result=retry reason=es_429"},
		{"no claim log lines", func(t *testing.T, b bundle.Bundle) {
			if err := os.Remove(b.Path(bundle.LogsDir, "projector-0.ndjson")); err != nil {
				t.Fatal(err)
			}
		}, VerdictFail, "ack lines show es_429 retries"},
		{"no retry log lines", func(t *testing.T, b bundle.Bundle) {
			p := b.Path(bundle.LogsDir, "projector-0.ndjson")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var keep []string
			for _, l := range strings.Split(string(data), "\n") {
				if !strings.Contains(l, `"result":"retry"`) {
					keep = append(keep, l)
				}
			}
			if err := os.WriteFile(p, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
		}, VerdictFail, "ack lines show es_429 retries"},
		{"the run never completed", func(t *testing.T, b bundle.Bundle) {
			editJSON(t, b.Path(bundle.StateFile), func(m map[string]any) { m["state"] = bundle.StateIncomplete })
		}, VerdictInconclusive, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fixtureBundle(t)
			tt.breakIt(t, b)
			res, err := Verify(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("got %s (%s), want %s", res.Verdict, res.Why, tt.verdict)
			}
			if tt.failCheck == "" {
				return
			}
			for _, c := range res.Checks {
				if c.Name == tt.failCheck && c.Pass {
					t.Errorf("check %q passed on broken evidence: %+v", c.Name, c)
				}
			}
		})
	}
}

func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := bundle.ReadJSON(path, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if err := bundle.WriteJSON(path, m); err != nil {
		t.Fatal(err)
	}
}

func TestExportStoredBundle(t *testing.T) {
	b := fixtureBundle(t)
	if _, err := Verify(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	x, err := Export(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(x.Report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PASS", "fixture_429", "<svg", "retries with reason es_429 rose"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	var jaeger struct {
		Data []struct {
			Spans []json.RawMessage `json:"spans"`
		} `json:"data"`
	}
	raw, err := os.ReadFile(x.Jaeger)
	if err != nil || json.Unmarshal(raw, &jaeger) != nil || len(jaeger.Data) == 0 || len(jaeger.Data[0].Spans) == 0 {
		t.Fatalf("Jaeger export %s holds no trace (%v)", x.Jaeger, err)
	}
	if st, err := os.Stat(x.Archive); err != nil || st.Size() == 0 {
		t.Fatalf("archive %s: %v", x.Archive, err)
	}
	// Without spans, export still succeeds and says what is missing.
	if err := os.RemoveAll(b.Path(bundle.TracesDir)); err != nil {
		t.Fatal(err)
	}
	x, err = Export(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	note, err := os.ReadFile(b.Path(bundle.ExportsDir, ExportNoteFile))
	if err != nil || !strings.Contains(string(note), "no spans") {
		t.Errorf("export note %q (%v), want it to say no spans were collected", note, err)
	}
	if len(x.Notes) == 0 {
		t.Error("Export returned no notes for a bundle without spans")
	}
}
