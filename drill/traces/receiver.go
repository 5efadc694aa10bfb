// Package traces collects, reads and exports a drill run's spans
// (DESIGN.md "Telemetry contract", "Evidence bundle" _traces/ and
// _exports/). The embedded default is a Receiver: an OTLP/HTTP endpoint
// owned by the harness that appends what projectors export to an ndjson
// file of OTLP JSON, which ReadFile turns back into flat Spans for verify.
// With a real Jaeger, FetchJaeger reads a run's spans from its query API.
// WriteJaeger renders spans as a Jaeger UI JSON file for export.
package traces

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TracesPath is the OTLP/HTTP path of trace export.
const TracesPath = "/v1/traces"

// MaxBody bounds one export request, compressed or not.
const MaxBody = 32 << 20

// shutdownTimeout bounds how long Close waits for in-flight exports.
const shutdownTimeout = 10 * time.Second

// ErrClosed is returned by Listen on a closed Receiver.
var ErrClosed = errors.New("trace receiver closed")

// Receiver is an OTLP/HTTP trace endpoint that appends each export
// request, as one line of OTLP JSON, to a file.
type Receiver struct {
	path  string
	spans atomic.Int64

	fmu sync.Mutex // guards f; held for each line so lines never interleave
	f   *os.File

	mu     sync.Mutex // guards the fields below
	srv    *http.Server
	url    string
	done   chan struct{} // closed when Serve returns
	serr   error         // Serve's unexpected error
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// NewReceiver opens (appending) the ndjson file at path, creating its
// parent directories. It does not listen yet.
func NewReceiver(path string) (*Receiver, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("trace receiver: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("trace receiver: %w", err)
	}
	return &Receiver{path: path, f: f}, nil
}

// Listen binds addr (e.g. "127.0.0.1:0") and serves in a goroutine of its
// own until Close. ctx bounds the bind only: serving outlives ctx on
// purpose, so spans that children flush while being stopped still arrive.
func (r *Receiver) Listen(ctx context.Context, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return ErrClosed
	case r.srv != nil:
		return fmt.Errorf("trace receiver already listening on %s", r.url)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("trace receiver: %w", err)
	}
	r.srv = &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
	}
	r.url = "http://" + ln.Addr().String()
	r.done = make(chan struct{})
	srv, done := r.srv, r.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			r.mu.Lock()
			r.serr = fmt.Errorf("trace receiver: %w", err)
			r.mu.Unlock()
		}
	}()
	return nil
}

// URL is the base URL (no path) to give children as
// OTEL_EXPORTER_OTLP_ENDPOINT; empty before Listen.
func (r *Receiver) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.url
}

// Spans is the number of spans received and written so far.
func (r *Receiver) Spans() int {
	return int(r.spans.Load())
}

// Close stops serving, waits (bounded) for in-flight requests, and closes
// the file. It is idempotent: later calls return the first call's result.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.close() })
	return r.closeErr
}

func (r *Receiver) close() error {
	r.mu.Lock()
	r.closed = true
	srv, done := r.srv, r.done
	r.mu.Unlock()
	var errs []error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("trace receiver shutdown: %w", err), srv.Close())
		}
		cancel()
		<-done
		r.mu.Lock()
		errs = append(errs, r.serr)
		r.mu.Unlock()
	}
	r.fmu.Lock()
	defer r.fmu.Unlock()
	if err := r.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", r.path, err))
	}
	r.f = nil
	return errors.Join(errs...)
}

// ServeHTTP implements OTLP/HTTP trace export: POST /v1/traces with a
// protobuf or JSON body, optionally gzip-compressed.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != TracesPath {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	isJSON, err := jsonContent(req.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	body, status, err := readBody(w, req)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	msg := &coltracepb.ExportTraceServiceRequest{}
	if isJSON {
		err = unmarshalOTLPJSON(body, msg)
	} else if err = proto.Unmarshal(body, msg); err != nil {
		err = fmt.Errorf("decode OTLP protobuf: %w", err)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := r.append(msg); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	var out []byte
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		out, err = marshalJSON.Marshal(resp)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, err = proto.Marshal(resp)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(out)
}

// jsonContent tells a JSON body from a protobuf one by its media type.
func jsonContent(ct string) (bool, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Errorf("content type %q: %w", ct, err)
	}
	switch mt {
	case "application/x-protobuf", "application/protobuf":
		return false, nil
	case "application/json":
		return true, nil
	}
	return false, fmt.Errorf("content type %q: want application/x-protobuf or application/json", ct)
}

// readBody reads the request body, decompressed, within MaxBody; on error
// it also returns the status to answer with.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, int, error) {
	var src io.Reader = http.MaxBytesReader(w, req.Body, MaxBody)
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, readStatus(err), fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content encoding %q: want gzip or none", enc)
	}
	body, err := io.ReadAll(io.LimitReader(src, MaxBody+1))
	if err != nil {
		return nil, readStatus(err), fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxBody {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes once decompressed", MaxBody)
	}
	return body, 0, nil
}

func readStatus(err error) int {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// append writes msg as one line; requests without spans are not written.
func (r *Receiver) append(msg *coltracepb.ExportTraceServiceRequest) error {
	n := 0
	for _, rs := range msg.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	if n == 0 {
		return nil
	}
	line, err := marshalOTLPJSON(msg)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	r.fmu.Lock()
	defer r.fmu.Unlock()
	if r.f == nil {
		return ErrClosed
	}
	if _, err := r.f.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", r.path, err)
	}
	r.spans.Add(int64(n))
	return nil
}

var _ http.Handler = (*Receiver)(nil)
