package traces_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"firedrill/drill/traces"
)

// TestReceiverSDK exports spans with the real OpenTelemetry SDK, the way
// projectors do (telemetry.StartTracing), and reads them back.
func TestReceiverSDK(t *testing.T) {
	tests := []struct {
		name string
		opts []otlptracehttp.Option
	}{
		{"protobuf", nil},
		{"protobuf gzip", []otlptracehttp.Option{otlptracehttp.WithCompression(otlptracehttp.GzipCompression)}},
		{"json", []otlptracehttp.Option{otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON)}},
		{"json gzip", []otlptracehttp.Option{otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON),
			otlptracehttp.WithCompression(otlptracehttp.GzipCompression)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv, path := startReceiver(t)
			ctx := ctxT(t)
			opts := append([]otlptracehttp.Option{
				otlptracehttp.WithEndpointURL(recv.URL() + traces.TracesPath),
				otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
			}, tt.opts...)
			exp, err := otlptracehttp.New(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithBatcher(exp),
				sdktrace.WithResource(resource.NewSchemaless(
					attribute.String("service.name", "firedrill-projector"),
					attribute.String("firedrill.run_id", "r1"))))
			defer func() {
				if err := tp.Shutdown(ctx); err != nil {
					t.Errorf("shutdown provider: %v", err)
				}
			}()

			before := time.Now()
			tracer := tp.Tracer("firedrill/traces_test")
			cctx, claim := tracer.Start(ctx, "outbox.claim")
			_, batch := tracer.Start(cctx, "projection.process_batch", trace.WithAttributes(
				attribute.String("result", "retry"),
				attribute.String("reason", "es_429"),
				attribute.Int("batch_size", 100)))
			batch.SetStatus(codes.Error, "bulk 429")
			batch.End()
			claim.End()
			after := time.Now()
			if err := tp.ForceFlush(ctx); err != nil {
				t.Fatalf("force flush: %v", err)
			}
			// ForceFlush returns after the receiver answered, and it
			// answers after writing.
			if got := recv.Spans(); got != 2 {
				t.Fatalf("Spans() = %d, want 2", got)
			}

			spans, err := traces.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(spans) != 2 {
				t.Fatalf("got %d spans, want 2", len(spans))
			}
			got := traces.Filter(spans, "projection.process_batch", map[string]string{
				"result": "retry", "reason": "es_429", "batch_size": "100", "firedrill.run_id": "r1",
			})
			if len(got) != 1 {
				t.Fatalf("Filter: got %d spans, want 1", len(got))
			}
			s := got[0]
			checkEq(t, "TraceID", s.TraceID, batch.SpanContext().TraceID().String())
			checkEq(t, "SpanID", s.SpanID, batch.SpanContext().SpanID().String())
			checkEq(t, "ParentSpanID", s.ParentSpanID, claim.SpanContext().SpanID().String())
			checkEq(t, "Service", s.Service, "firedrill-projector")
			checkEq(t, "Resource[service.name]", s.Resource["service.name"], "firedrill-projector")
			checkEq(t, "StatusCode", s.StatusCode, "ERROR")
			if s.Start.Before(before) || s.End.After(after) || s.End.Before(s.Start) {
				t.Errorf("got span %v..%v, want within %v..%v", s.Start, s.End, before, after)
			}
			root := traces.Filter(spans, "outbox.claim", nil)
			if len(root) != 1 || root[0].ParentSpanID != "" || root[0].TraceID != s.TraceID {
				t.Errorf("got root %+v, want one outbox.claim without parent in trace %s", root, s.TraceID)
			}

			// The file is standard OTLP JSON: hex ids, one request a line.

			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(raw, []byte("\n")); n != 1 {
				t.Errorf("got %d lines, want 1", n)
			}
			if want := `"traceId":"` + s.TraceID + `"`; !bytes.Contains(raw, []byte(want)) {
				t.Errorf("file lacks %s:\n%s", want, raw)
			}
		})
	}
}

// handJSON is an OTLP JSON request as the spec writes it: hex ids, enum
// numbers, int64 as a string.
const handJSON = `{"resourceSpans":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"firedrill-projector"}},
 {"key":"firedrill.run_id","value":{"stringValue":"r1"}}]},
 "scopeSpans":[{"scope":{"name":"hand"},"spans":[{
  "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173",
  "name":"projection.process_batch","kind":1,
  "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
  "attributes":[{"key":"result","value":{"stringValue":"retry"}},
   {"key":"batch_size","value":{"intValue":"100"}},
   {"key":"ratio","value":{"doubleValue":0.5}},
   {"key":"final","value":{"boolValue":false}},
   {"key":"ids","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"2"}]}}}],
  "status":{"code":1}}]}]}]}`

func TestReceiverHandJSON(t *testing.T) {
	recv, path := startReceiver(t)
	status, ct, body := post(t, recv.URL()+traces.TracesPath, "application/json", "", []byte(handJSON))
	if status != http.StatusOK || ct != "application/json" || strings.TrimSpace(string(body)) != "{}" {
		t.Fatalf("got %d %q %q, want 200 application/json {}", status, ct, body)
	}
	spans, err := traces.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	checkEq(t, "TraceID", s.TraceID, "5b8efff798038103d269b633813fc60c")
	checkEq(t, "SpanID", s.SpanID, "eee19b7ec3c1b174")
	checkEq(t, "ParentSpanID", s.ParentSpanID, "eee19b7ec3c1b173")
	checkEq(t, "StatusCode", s.StatusCode, "OK")
	checkEq(t, "Resource[firedrill.run_id]", s.Resource["firedrill.run_id"], "r1")
	for k, want := range map[string]string{"result": "retry", "batch_size": "100", "ratio": "0.5", "final": "false", "ids": `["a",2]`} {
		checkEq(t, "Attrs["+k+"]", s.Attrs[k], want)
	}
	if want := time.Unix(1700000000, 0).UTC(); !s.Start.Equal(want) {
		t.Errorf("got Start %v, want %v", s.Start, want)
	}
	if got := s.End.Sub(s.Start); got != 250*time.Millisecond {
		t.Errorf("got duration %v, want 250ms", got)
	}
}

func TestReceiverRejects(t *testing.T) {
	recv, path := startReceiver(t)
	bomb := zeroBomb(t, traces.MaxBody+1)
	tests := []struct {
		name, path, method, ct, enc string
		body                        []byte
		want                        int
	}{
		{"bad protobuf", traces.TracesPath, http.MethodPost, "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"bad json", traces.TracesPath, http.MethodPost, "application/json", "", []byte("not json"), http.StatusBadRequest},
		{"bad id", traces.TracesPath, http.MethodPost, "application/json", "",
			[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz!"}]}]}]}`), http.StatusBadRequest},
		{"not gzip", traces.TracesPath, http.MethodPost, "application/x-protobuf", "gzip", []byte("plain"), http.StatusBadRequest},
		{"gzip bomb", traces.TracesPath, http.MethodPost, "application/x-protobuf", "gzip", bomb, http.StatusRequestEntityTooLarge},
		{"unknown encoding", traces.TracesPath, http.MethodPost, "application/x-protobuf", "br", nil, http.StatusUnsupportedMediaType},
		{"unknown type", traces.TracesPath, http.MethodPost, "text/plain", "", nil, http.StatusUnsupportedMediaType},
		{"metrics path", "/v1/metrics", http.MethodPost, "application/x-protobuf", "", nil, http.StatusNotFound},
		{"root", "/", http.MethodPost, "application/x-protobuf", "", nil, http.StatusNotFound},
		{"GET", traces.TracesPath, http.MethodGet, "", "", nil, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctxT(t), tt.method, recv.URL()+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.ct)
			req.Header.Set("Content-Encoding", tt.enc)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if got := recv.Spans(); got != 0 {
		t.Errorf("got Spans() = %d, want 0", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("got file %v (err %v), want it empty", fi, err)
	}
}

// TestReceiverConcurrent checks that concurrent exports land as whole lines.
func TestReceiverConcurrent(t *testing.T) {
	recv, path := startReceiver(t)
	const workers, each = 8, 10
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := strings.Replace(handJSON, "eee19b7ec3c1b174", fmt.Sprintf("%016x", w*each+i+1), 1)
				status, _, out, err := postErr(ctx, recv.URL()+traces.TracesPath, "application/json", "", []byte(body))
				if err != nil || status != http.StatusOK {
					t.Errorf("got %d %s (err %v), want 200", status, out, err)
				}
			}
		})
	}
	wg.Wait()
	if err := recv.Close(); err != nil {
		t.Fatal(err)
	}
	spans, err := traces.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != workers*each || recv.Spans() != workers*each {
		t.Errorf("got %d spans read, Spans() = %d, want %d", len(spans), recv.Spans(), workers*each)
	}
}

func TestReceiverLifecycle(t *testing.T) {
	recv, _ := startReceiver(t)
	url := recv.URL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.Count(url, "/") != 2 {
		t.Errorf("got URL %q, want http://127.0.0.1:port", url)
	}
	if err := recv.Listen(ctxT(t), "127.0.0.1:0"); err == nil {
		t.Error("second Listen: got nil error, want one")
	}
	for i := range 3 {
		if err := recv.Close(); err != nil {
			t.Errorf("Close #%d: got %v, want nil", i+1, err)
		}
	}
	if err := recv.Listen(ctxT(t), "127.0.0.1:0"); !errors.Is(err, traces.ErrClosed) {
		t.Errorf("Listen after Close: got %v, want ErrClosed", err)
	}
	if resp, err := http.Post(url+traces.TracesPath, "application/json", strings.NewReader(handJSON)); err == nil {
		_ = resp.Body.Close()
		t.Errorf("post after Close: got status %d, want connection refused", resp.StatusCode)
	}

	// A receiver that never listened closes too.
	idle, err := traces.NewReceiver(t.TempDir() + "/spans.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Close(); err != nil {
		t.Errorf("Close without Listen: got %v, want nil", err)
	}
}

func checkEq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// zeroBomb is n zero bytes gzipped: tiny on the wire, over the limit once
// decompressed.
func zeroBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := zw.Write(chunk[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
