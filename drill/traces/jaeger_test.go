package traces_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"firedrill/drill/traces"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// fixture is two traces given out of order, one of them spanning two
// processes, with every status; times are whole microseconds, as Jaeger
// keeps them.
func fixture() []traces.Span {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p0 := map[string]string{"service.name": "firedrill-projector", "firedrill.run_id": "r1", "worker": "projector-0"}
	p1 := map[string]string{"service.name": "firedrill-projector", "firedrill.run_id": "r1", "worker": "projector-1"}
	const ta, tb = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
	return []traces.Span{
		{TraceID: tb, SpanID: "b000000000000001", Name: "projection.process_batch", Service: "firedrill-projector",
			Start: t0.Add(2 * time.Second), End: t0.Add(2*time.Second + 40*time.Millisecond),
			Attrs: map[string]string{"result": "ok", "batch_size": "3"}, Resource: p1, StatusCode: "OK"},
		{TraceID: ta, SpanID: "a000000000000002", ParentSpanID: "a000000000000001", Name: "projection.process_batch",
			Service: "firedrill-projector", Start: t0.Add(1500 * time.Microsecond), End: t0.Add(251500 * time.Microsecond),
			Attrs:    map[string]string{"result": "retry", "reason": "es_429", "batch_size": "100"},
			Resource: p0, StatusCode: "ERROR"},
		{TraceID: ta, SpanID: "a000000000000001", Name: "outbox.claim", Service: "firedrill-projector",
			Start: t0, End: t0.Add(1200 * time.Microsecond), Attrs: map[string]string{}, Resource: p0},
		{TraceID: ta, SpanID: "a000000000000003", ParentSpanID: "a000000000000002", Name: "outbox.process",
			Service: "firedrill-projector", Start: t0.Add(2 * time.Millisecond), End: t0.Add(2300 * time.Microsecond),
			Attrs: map[string]string{"outbox.event_id": "e1", "note": `<quoted "html">`}, Resource: p1},
	}
}

func TestWriteJaegerGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := traces.WriteJaeger(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "jaeger.golden.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", buf.Bytes(), golden, want)
	}
}

func TestWriteJaegerEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := traces.WriteJaeger(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"data": []`) {
		t.Errorf("got %s, want an empty data array", buf.String())
	}
}

// TestJaegerRoundTrip reads WriteJaeger's output back with the converter
// FetchJaeger uses.
func TestJaegerRoundTrip(t *testing.T) {
	in := fixture()
	var buf bytes.Buffer
	if err := traces.WriteJaeger(&buf, in); err != nil {
		t.Fatal(err)
	}
	got, err := traces.ReadJaeger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []traces.Span{in[2], in[1], in[3], in[0]} // by trace id, then start
	if len(got) != len(want) {
		t.Fatalf("got %d spans, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("span %d: got\n%+v\nwant\n%+v", i, got[i], want[i])
		}
	}
}

// jaegerRecorded is a Jaeger query API response written by hand in the
// shape Jaeger v1 serves from GET /api/traces: structuredResponse in
// jaegertracing/jaeger cmd/query/app/http_handler.go around []Trace of
// model/json/model.go, with the tags Jaeger's OTLP translator adds
// (otel.status_code, error, span.kind, otel.scope.name,
// internal.span.format), typed tag values, span logs, and a 128-bit trace
// id whose zero high half Jaeger prints as 16 characters. It was not
// captured from a live Jaeger (none runs here).
const jaegerRecorded = "testdata/jaeger_api_traces.json"

func TestFetchJaeger(t *testing.T) {
	recorded, err := os.ReadFile(jaegerRecorded)
	if err != nil {
		t.Fatal(err)
	}
	start := time.UnixMicro(1699999990000000)
	end := time.UnixMicro(1700000010000000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		want := map[string]string{
			"service": "firedrill-projector", "tags": `{"firedrill.run_id":"r1"}`,
			"start": "1699999990000000", "end": "1700000010000000", "limit": fmt.Sprint(traces.FetchLimit),
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("query %s: got %q, want %q", k, q.Get(k), v)
			}
		}
		if r.URL.Path != "/jaeger/api/traces" {
			t.Errorf("got path %q, want /jaeger/api/traces", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(recorded)
	}))
	defer srv.Close()

	spans, err := traces.FetchJaeger(ctxT(t), srv.URL+"/jaeger", "firedrill-projector", "r1", start, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 4 {
		t.Fatalf("got %d spans, want 4", len(spans))
	}
	got := traces.Filter(spans, "projection.process_batch", map[string]string{"result": "retry", "firedrill.run_id": "r1"})
	if len(got) != 1 {
		t.Fatalf("Filter: got %d spans, want 1", len(got))
	}
	s := got[0]
	checkEq(t, "ParentSpanID", s.ParentSpanID, "eee19b7ec3c1b173")
	checkEq(t, "StatusCode", s.StatusCode, "ERROR")
	checkEq(t, "Service", s.Service, "firedrill-projector")
	checkEq(t, "Resource[host.name]", s.Resource["host.name"], "runner-1")
	checkEq(t, "Resource[service.name]", s.Resource["service.name"], "firedrill-projector")
	for k, want := range map[string]string{"batch_size": "100", "ratio": "0.5", "reason": "es_429", "otel.status_description": "bulk 429"} {
		checkEq(t, "Attrs["+k+"]", s.Attrs[k], want)
	}
	for _, k := range []string{"otel.status_code", "error"} {
		if v, ok := s.Attrs[k]; ok {
			t.Errorf("Attrs[%s] = %q, want it turned into StatusCode", k, v)
		}
	}
	if want := time.UnixMicro(1700000000001500).UTC(); !s.Start.Equal(want) || s.End.Sub(s.Start) != 250*time.Millisecond {
		t.Errorf("got %v + %v, want %v + 250ms", s.Start, s.End.Sub(s.Start), want)
	}
	proc := traces.Filter(spans, "outbox.process", nil)
	if len(proc) != 1 || proc[0].Resource["host.name"] != "runner-2" || proc[0].ParentSpanID != "eee19b7ec3c1b174" {
		t.Errorf("got outbox.process %+v, want one on runner-2, child of the batch", proc)
	}
	short := traces.Filter(spans, "", map[string]string{"result": "ok"})
	if len(short) != 1 || short[0].TraceID != "00000000000000005c1e2d3f4a5b6c7d" || short[0].StatusCode != "OK" {
		t.Errorf("got %+v, want the 64-bit trace id padded to 32 characters, status OK", short)
	}
}

func TestFetchJaegerErrors(t *testing.T) {
	tests := []struct {
		name, status, body, want string
	}{
		{"server error", "500", "boom", "500 Internal Server Error: boom"},
		{"jaeger error", "400", `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"malformed tags"}]}`, "malformed tags"},
		{"error with 200", "200", `{"data":[],"errors":[{"code":500,"msg":"storage down"}]}`, "storage down"},
		{"not json", "200", "<html>", "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var code int
				_, _ = fmt.Sscan(tt.status, &code)
				w.WriteHeader(code)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			_, err := traces.FetchJaeger(ctxT(t), srv.URL, "s", "r1", time.Time{}, time.Time{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, base := range []string{"", "localhost:16686", "ftp://h/", "http://user:secret@:1/"} {
		_, err := traces.FetchJaeger(ctxT(t), base, "s", "r1", time.Time{}, time.Time{})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("base %q: got %v, want a redacted URL error", base, err)
		}
	}
}

func TestFetchJaegerTruncated(t *testing.T) {
	var many []traces.Span
	for i := range traces.FetchLimit {
		many = append(many, traces.Span{TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1),
			Name: "projection.process_batch", Service: "s", Resource: map[string]string{"service.name": "s"}})
	}
	var body bytes.Buffer
	if err := traces.WriteJaeger(&body, many); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body.Bytes())
	}))
	defer srv.Close()
	spans, err := traces.FetchJaeger(ctxT(t), srv.URL, "s", "r1", time.Time{}, time.Time{})
	if !errors.Is(err, traces.ErrTruncated) || len(spans) != traces.FetchLimit {
		t.Errorf("got %d spans, err %v; want %d and ErrTruncated", len(spans), err, traces.FetchLimit)
	}
	if !slices.IsSortedFunc(spans, func(a, b traces.Span) int { return strings.Compare(a.TraceID, b.TraceID) }) {
		t.Error("got spans out of trace order, want WriteJaeger's order kept")
	}
}
