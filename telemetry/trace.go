package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// RunIDEnv names the variable carrying the drill run id; it becomes the
// resource attribute firedrill.run_id of every span.
const RunIDEnv = "FIREDRILL_RUN_ID"

// TraceConfig configures span export.
type TraceConfig struct {
	// Endpoint is the OTLP/HTTP base URL (http://host:4318). Empty: spans
	// are created (logs still carry trace ids) but not exported.
	Endpoint string
	Service  string
	RunID    string
	// ExportTimeout bounds one export; a dead collector costs at most this,
	// in the background. Default 2s.
	ExportTimeout time.Duration
}

// Tracing owns a tracer provider.
type Tracing struct {
	Provider *sdktrace.TracerProvider
}

// StartTracing builds the provider and sets it as the global one. Export
// runs in a batch processor that drops spans when its queue is full, so a
// dead or slow collector never blocks or slows the caller.
func StartTracing(ctx context.Context, cfg TraceConfig) (*Tracing, error) {
	if cfg.ExportTimeout <= 0 {
		cfg.ExportTimeout = 2 * time.Second
	}
	if cfg.RunID == "" {
		cfg.RunID = os.Getenv(RunIDEnv)
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(cfg.Service)}
	if cfg.RunID != "" {
		attrs = append(attrs, attribute.String("firedrill.run_id", cfg.RunID))
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("OTLP endpoint %q: want an http(s)://host:port URL", RedactURL(cfg.Endpoint))
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		exp, err := otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(u.String()),
			otlptracehttp.WithTimeout(cfg.ExportTimeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
		if err != nil {
			return nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp,
			sdktrace.WithMaxQueueSize(16384),
			sdktrace.WithBatchTimeout(500*time.Millisecond),
			sdktrace.WithExportTimeout(cfg.ExportTimeout)))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return &Tracing{Provider: tp}, nil
}

// Shutdown flushes what it can within ctx, then drops the rest.
func (t *Tracing) Shutdown(ctx context.Context) error {
	return t.Provider.Shutdown(ctx)
}

// RedactURL hides the password of a URL's userinfo so it can be logged.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL hidden)"
	}
	return u.Redacted()
}
