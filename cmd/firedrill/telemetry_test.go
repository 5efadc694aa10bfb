package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"firedrill/outbox"
	"firedrill/projector"
	"firedrill/projector/projectortest"
	"firedrill/store"
)

func TestMetricsArePromlintClean(t *testing.T) {
	reg := prometheus.NewRegistry()
	projector.NewMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %v", problems, err)
	}
	want := map[string]int{"outbox_retry_scheduled_total": len(outbox.Reasons), "outbox_failed_total": len(outbox.Reasons),
		"outbox_claim_errors_total": 2, "outbox_events_done_total": 4, "projection_bulk_items_total": 4}
	for _, mf := range mfs {
		if n, ok := want[mf.GetName()]; ok && len(mf.GetMetric()) != n {
			t.Errorf("%s: %d series initialised, want %d", mf.GetName(), len(mf.GetMetric()), n)
		}
		delete(want, mf.GetName())
	}
	if len(want) > 0 {
		t.Errorf("series missing before any event: %v", want)
	}
}

// otlpReceiver collects the spans posted to /v1/traces.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
}

type span struct {
	name, traceID string
	attrs, res    map[string]string
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var ex collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &ex); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range ex.GetResourceSpans() {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				a := map[string]string{}
				for _, kv := range s.GetAttributes() {
					a[kv.GetKey()] = kv.GetValue().GetStringValue()
				}
				r.spans = append(r.spans, span{s.GetName(), hex.EncodeToString(s.GetTraceId()), a, res})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(nil)
}

func (r *otlpReceiver) snapshot() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]span(nil), r.spans...)
}

// TestSpansAndLogsCorrelate runs the projector with a live OTLP receiver:
// the contract's spans arrive with their attributes and the run id, and
// every ack log line carries the trace id of its span.
func TestSpansAndLogsCorrelate(t *testing.T) {
	rcv := &otlpReceiver{}
	collector := httptest.NewServer(rcv)
	defer collector.Close()
	logs := projectBriefly(t, collector.URL, 20)
	var spans []span
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if spans = rcv.snapshot(); countNamed(spans, "outbox.process") >= 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := countNamed(spans, "outbox.process"); n < 20 {
		t.Fatalf("outbox.process spans: got %d, want ≥ 20", n)
	}
	traces := map[string]bool{}
	for _, s := range spans {
		if s.res["firedrill.run_id"] != "run-telemetry" || s.res["service.name"] != "firedrill-projector" {
			t.Fatalf("span %s resource: got %v, want firedrill.run_id=run-telemetry", s.name, s.res)
		}
		switch s.name {
		case "outbox.process":
			if s.attrs["outbox.event_id"] == "" || s.attrs["result"] != "done" {
				t.Errorf("outbox.process attrs: got %v", s.attrs)
			}
			traces[s.traceID] = true
		case "projection.process_batch":
			if s.attrs["result"] != "ok" {
				t.Errorf("process_batch result: got %q, want ok", s.attrs["result"])
			}
		}
	}
	if countNamed(spans, "outbox.claim") == 0 || countNamed(spans, "projection.process_batch") == 0 {
		t.Fatalf("missing claim or batch spans: %d spans", len(spans))
	}
	acks := 0
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "ack" {
			continue
		}
		acks++
		tid, _ := rec["trace_id"].(string)
		if !traces[tid] || rec["span_id"] == nil || rec["outbox_event_id"] == nil || rec["claim_batch_id"] == nil {
			t.Fatalf("ack line without a matching trace_id/span_id: %s", line)
		}
	}
	if acks != 20 {
		t.Fatalf("ack lines: got %d, want 20", acks)
	}
}

// TestDeadCollectorDoesNotStopProcessing points the exporter at a port
// nobody listens on: every event is still projected.
func TestDeadCollectorDoesNotStopProcessing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	logs := projectBriefly(t, dead, 200)
	if !strings.Contains(logs, `"msg":"ack"`) {
		t.Fatal("no ack lines")
	}
}

// projectBriefly loads n entities, runs the projector in-process with the
// given OTLP endpoint until all are done, and returns its logs.
func projectBriefly(t *testing.T, otlp string, n int) string {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "o.db")
	ctx := context.Background()
	if code, _, stderr := runCLI(ctx, "load", "--db", dsn, "--entities", itoa(n), "--update-ratio", "0", "--delete-ratio", "0"); code != 0 {
		t.Fatalf("load: %s", stderr)
	}
	engine := httptest.NewServer(projectortest.New())
	defer engine.Close()
	s, err := store.Open(ctx, dsn, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rctx, cancel := context.WithCancel(ctx)
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(rctx, []string{"projector", "--db", dsn, "--search-url", engine.URL, "--metrics-addr", "127.0.0.1:0",
			"--otlp-endpoint", otlp, "--run-id", "run-telemetry"}, &out, &errb)
	}()
	waitDone(t, s, int64(n), time.Minute)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("projector: %v", err)
	}
	return errb.String()
}

func countNamed(spans []span, name string) int {
	n := 0
	for _, s := range spans {
		if s.name == name {
			n++
		}
	}
	return n
}
