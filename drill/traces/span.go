package traces

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Span is one span, flattened.
type Span struct {
	// TraceID and SpanID are lowercase hex (32 and 16 characters);
	// ParentSpanID is empty for a root span.
	TraceID, SpanID, ParentSpanID string
	Name                          string
	// Service is the resource's service.name.
	Service    string
	Start, End time.Time
	// Attrs are the span attributes, values rendered as strings: ints,
	// bools and doubles plainly (100, true, 0.5), arrays and maps as JSON.
	Attrs map[string]string
	// Resource holds the resource attributes, rendered like Attrs; it
	// includes firedrill.run_id and service.name. Spans of one resource
	// may share the map: treat it as read-only.
	Resource map[string]string
	// StatusCode is "" (unset), "OK" or "ERROR".
	StatusCode string
}

// ServiceNameKey is the resource attribute naming a span's service.
const ServiceNameKey = "service.name"

// RunIDKey is the resource attribute carrying the drill run id.
const RunIDKey = "firedrill.run_id"

// ReadFile reads the ndjson of OTLP JSON written by a Receiver. A missing
// file is an error wrapping fs.ErrNotExist, so callers can tell "no
// traces collected" from "no matching spans".
func ReadFile(path string) ([]Span, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read spans: %w", err)
	}
	defer f.Close()
	var spans []Span
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		// Lines can be as long as one export request: no Scanner limit.
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req coltracepb.ExportTraceServiceRequest
			if uerr := unmarshalOTLPJSON(line, &req); uerr != nil {
				return nil, fmt.Errorf("read spans: %s line %d: %w", path, n, uerr)
			}
			spans = append(spans, flatten(&req)...)
		}
		if errors.Is(err, io.EOF) {
			return spans, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read spans: %w", err)
		}
	}
}

// Filter returns the spans called name (empty: any) whose attributes
// equal every entry of match; a key missing from a span's Attrs is looked
// up in its Resource.
func Filter(spans []Span, name string, match map[string]string) []Span {
	var out []Span
	for _, s := range spans {
		if name != "" && s.Name != name {
			continue
		}
		if matches(s, match) {
			out = append(out, s)
		}
	}
	return out
}

func matches(s Span, match map[string]string) bool {
	for k, want := range match {
		got, ok := s.Attrs[k]
		if !ok {
			got, ok = s.Resource[k]
		}
		if !ok || got != want {
			return false
		}
	}
	return true
}

// flatten turns one export request into Spans.
func flatten(req *coltracepb.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				out = append(out, Span{
					TraceID:      hex.EncodeToString(sp.GetTraceId()),
					SpanID:       hex.EncodeToString(sp.GetSpanId()),
					ParentSpanID: hex.EncodeToString(sp.GetParentSpanId()),
					Name:         sp.GetName(),
					Service:      res[ServiceNameKey],
					Start:        unixNano(sp.GetStartTimeUnixNano()),
					End:          unixNano(sp.GetEndTimeUnixNano()),
					Attrs:        attrMap(sp.GetAttributes()),
					Resource:     res,
					StatusCode:   statusCode(sp.GetStatus().GetCode()),
				})
			}
		}
	}
	return out
}

func unixNano(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns)).UTC()
}

func statusCode(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "OK"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "ERROR"
	}
	return ""
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = valueString(kv.GetValue())
	}
	return m
}

// valueString renders an attribute value the way a person would write it.
func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case nil:
		return ""
	}
	b, err := json.Marshal(plain(v))
	if err != nil {
		return ""
	}
	return string(b)
}

// plain converts a value to something encoding/json renders naturally;
// scalars inside arrays and maps keep their JSON types.
func plain(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, plain(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := make(map[string]any, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.GetKey()] = plain(kv.GetValue())
		}
		return out
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue // base64, like valueString
	}
	return nil
}
