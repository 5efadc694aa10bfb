package projector_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"firedrill/projector"
)

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newProjector(t *testing.T, cfg projector.Config, store projector.Store, idx projector.Indexer, logs io.Writer) (*projector.Projector, *projector.Metrics) {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	m := projector.NewMetrics(prometheus.NewRegistry())
	p, err := projector.New(cfg, store, idx, m, slog.New(slog.NewJSONHandler(logs, nil)), noop.NewTracerProvider())
	if err != nil {
		t.Fatalf("new projector: %v", err)
	}
	return p, m
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
