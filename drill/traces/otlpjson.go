package traces

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// OTLP JSON is protojson with two differences that matter here
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// trace and span ids are hex strings, not base64, and enums are integers.
// protojson alone would silently misread a hex id as base64, so ids are
// rewritten on the way in and out.

// idKeys are the JSON keys holding trace or span ids (spans and links);
// protojson accepts proto names on input too.
var idKeys = map[string]bool{
	"traceId": true, "spanId": true, "parentSpanId": true,
	"trace_id": true, "span_id": true, "parent_span_id": true,
}

var (
	marshalJSON   = protojson.MarshalOptions{UseEnumNumbers: true}
	unmarshalJSON = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// marshalOTLPJSON renders req as one line of OTLP JSON (no newline).
func marshalOTLPJSON(req *coltracepb.ExportTraceServiceRequest) ([]byte, error) {
	b, err := marshalJSON.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode OTLP JSON: %w", err)
	}
	return rewriteIDs(b, base64ToHex)
}

// unmarshalOTLPJSON parses OTLP JSON. Ids may be hex (the standard) or
// base64 (plain protojson): the lengths never collide, since a 16-byte
// trace id is 32 hex or 24 base64 characters and a span id 16 or 12.
func unmarshalOTLPJSON(b []byte, req *coltracepb.ExportTraceServiceRequest) error {
	b, err := rewriteIDs(b, hexToBase64)
	if err != nil {
		return err
	}
	if err := unmarshalJSON.Unmarshal(b, req); err != nil {
		return fmt.Errorf("decode OTLP JSON: %w", err)
	}
	return nil
}

// rewriteIDs applies conv to every id value in the JSON document b and
// returns it compacted onto one line.
func rewriteIDs(b []byte, conv func(string) (string, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep numbers exactly as written
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode OTLP JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode OTLP JSON: trailing data after the document")
	}
	if err := walkIDs(doc, conv); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode OTLP JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func walkIDs(v any, conv func(string) (string, error)) error {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && idKeys[k] {
				c, err := conv(s)
				if err != nil {
					return fmt.Errorf("%s %q: %w", k, s, err)
				}
				v[k] = c
				continue
			}
			if err := walkIDs(x, conv); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := walkIDs(x, conv); err != nil {
				return err
			}
		}
	}
	return nil
}

func base64ToHex(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// hexToBase64 converts a hex id; anything else is left for protojson to
// judge as base64.
func hexToBase64(s string) (string, error) {
	if (len(s) != 32 && len(s) != 16) || !isHex(s) {
		return s, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func isHex(s string) bool {
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}
