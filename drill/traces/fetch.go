package traces

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"firedrill/telemetry"
)

// FetchLimit is the most traces FetchJaeger asks Jaeger for.
const FetchLimit = 10000

// maxJaegerResponse bounds the response FetchJaeger reads.
const maxJaegerResponse = 512 << 20

// FetchJaeger reads the spans of every trace whose process carries tag
// firedrill.run_id=runID for service from Jaeger's query API at base
// (GET {base}/api/traces?service=S&tags={"firedrill.run_id":"ID"}&start=µs&end=µs&limit=N)
// and converts them to Spans. Jaeger's tag search matches span and process
// tags alike, and returns whole traces, so spans of other processes in the
// same traces come too: filter on Resource["firedrill.run_id"].
// A zero start or end leaves that bound to Jaeger. When Jaeger returns
// FetchLimit traces, the spans come back with an error wrapping
// ErrTruncated.
func FetchJaeger(ctx context.Context, base, service, runID string, start, end time.Time) ([]Span, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("jaeger query URL %q: want an http(s)://host:port URL", telemetry.RedactURL(base))
	}
	tags, err := json.Marshal(map[string]string{RunIDKey: runID})
	if err != nil {
		return nil, fmt.Errorf("jaeger tags: %w", err)
	}
	q := url.Values{}
	q.Set("service", service)
	q.Set("tags", string(tags))
	q.Set("limit", strconv.Itoa(FetchLimit))
	if !start.IsZero() {
		q.Set("start", strconv.FormatInt(start.UnixMicro(), 10))
	}
	if !end.IsZero() {
		q.Set("end", strconv.FormatInt(end.UnixMicro(), 10))
	}
	u = u.JoinPath("api", "traces")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("jaeger query: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jaeger query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJaegerResponse+1))
	if err != nil {
		return nil, fmt.Errorf("jaeger query %s: %w", u.Redacted(), err)
	}
	if len(body) > maxJaegerResponse {
		return nil, fmt.Errorf("jaeger query %s: response over %d bytes", u.Redacted(), maxJaegerResponse)
	}
	var parsed jaegerResponse
	derr := json.NewDecoder(bytes.NewReader(body)).Decode(&parsed)
	if resp.StatusCode != http.StatusOK {
		if derr == nil && parsed.err() != nil {
			return nil, fmt.Errorf("jaeger query %s: %s: %w", u.Redacted(), resp.Status, parsed.err())
		}
		return nil, fmt.Errorf("jaeger query %s: %s: %s", u.Redacted(), resp.Status, snippet(body))
	}
	if derr != nil {
		return nil, fmt.Errorf("jaeger query %s: decode: %w", u.Redacted(), derr)
	}
	if err := parsed.err(); err != nil {
		return nil, fmt.Errorf("jaeger query %s: %w", u.Redacted(), err)
	}
	spans := fromJaeger(parsed.Data)
	if len(parsed.Data) >= FetchLimit {
		return spans, fmt.Errorf("jaeger query for run %s: %w (%d)", runID, ErrTruncated, FetchLimit)
	}
	return spans, nil
}

func snippet(b []byte) string {
	const n = 512
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
