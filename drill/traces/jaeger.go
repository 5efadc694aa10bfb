package traces

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"
)

// The Jaeger JSON shape is that of the query API's GET /api/traces
// response: structuredResponse in jaeger cmd/query/app/http_handler.go
// wrapping []Trace from jaeger model/json (model.go). The Jaeger UI's
// "JSON file" upload takes the same document.

type jaegerResponse struct {
	Data   []jaegerTrace `json:"data"`
	Total  int           `json:"total"`
	Limit  int           `json:"limit"`
	Offset int           `json:"offset"`
	Errors []jaegerError `json:"errors"`
}

type jaegerError struct {
	Code int    `json:"code,omitempty"`
	Msg  string `json:"msg"`
}

type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
	Warnings  []string                 `json:"warnings"`
}

type jaegerSpan struct {
	TraceID       string            `json:"traceID"`
	SpanID        string            `json:"spanID"`
	Flags         uint32            `json:"flags"`
	OperationName string            `json:"operationName"`
	References    []jaegerRef       `json:"references"`
	StartTime     int64             `json:"startTime"` // µs since the epoch
	Duration      int64             `json:"duration"`  // µs
	Tags          []jaegerTag       `json:"tags"`
	Logs          []json.RawMessage `json:"logs"`
	ProcessID     string            `json:"processID"`
	Warnings      []string          `json:"warnings"`
}

type jaegerRef struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerProcess struct {
	ServiceName string      `json:"serviceName"`
	Tags        []jaegerTag `json:"tags"`
}

// jaegerTag keeps its value raw: Jaeger types it (string, int64, bool,
// float64, binary) and an int64 must not pass through a float64.
type jaegerTag struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// Tags Jaeger derives from OTLP span status (jaeger's OTLP translator).
const (
	statusTag = "otel.status_code"
	errorTag  = "error"
)

// WriteJaeger writes spans as a Jaeger JSON file (the shape of the query
// API's /api/traces response, which the Jaeger UI can open): one trace per
// trace id, traces sorted by id and spans by start time, then span id.
// Attributes become string tags; resource attributes become process tags.
func WriteJaeger(w io.Writer, spans []Span) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(toJaeger(spans)); err != nil {
		return fmt.Errorf("write Jaeger JSON: %w", err)
	}
	return nil
}

// ReadJaeger reads a Jaeger JSON document, as written by WriteJaeger or
// served by Jaeger's /api/traces, back into Spans.
func ReadJaeger(r io.Reader) ([]Span, error) {
	var resp jaegerResponse
	if err := json.NewDecoder(r).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read Jaeger JSON: %w", err)
	}
	if err := resp.err(); err != nil {
		return nil, err
	}
	return fromJaeger(resp.Data), nil
}

func (r jaegerResponse) err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(r.Errors))
	for _, e := range r.Errors {
		msgs = append(msgs, e.Msg)
	}
	return fmt.Errorf("jaeger: %s", strings.Join(msgs, "; "))
}

func toJaeger(spans []Span) jaegerResponse {
	sorted := slices.Clone(spans)
	slices.SortStableFunc(sorted, func(a, b Span) int {
		if c := strings.Compare(a.TraceID, b.TraceID); c != 0 {
			return c
		}
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.SpanID, b.SpanID)
	})
	resp := jaegerResponse{Data: []jaegerTrace{}}
	for trace := range chunkByTrace(sorted) {
		t := jaegerTrace{TraceID: trace[0].TraceID, Processes: map[string]jaegerProcess{}}
		procIDs := map[string]string{} // process signature → id
		for _, s := range trace {
			sig := processSignature(s)
			id, ok := procIDs[sig]
			if !ok {
				id = fmt.Sprintf("p%d", len(procIDs)+1)
				procIDs[sig] = id
				t.Processes[id] = jaegerProcess{ServiceName: s.Service, Tags: processTags(s.Resource)}
			}
			t.Spans = append(t.Spans, jaegerSpanOf(s, id))
		}
		resp.Data = append(resp.Data, t)
	}
	return resp
}

// chunkByTrace yields runs of spans sharing a trace id.
func chunkByTrace(sorted []Span) iter.Seq[[]Span] {
	return func(yield func([]Span) bool) {
		for i := 0; i < len(sorted); {
			j := i + 1
			for j < len(sorted) && sorted[j].TraceID == sorted[i].TraceID {
				j++
			}
			if !yield(sorted[i:j]) {
				return
			}
			i = j
		}
	}
}

func processSignature(s Span) string {
	var b strings.Builder
	b.WriteString(s.Service)
	for _, k := range slices.Sorted(maps.Keys(s.Resource)) {
		fmt.Fprintf(&b, "\x00%s\x00%s", k, s.Resource[k])
	}
	return b.String()
}

// processTags are the resource attributes but service.name, which Jaeger
// carries as serviceName.
func processTags(res map[string]string) []jaegerTag {
	tags := []jaegerTag{}
	for _, k := range slices.Sorted(maps.Keys(res)) {
		if k != ServiceNameKey {
			tags = append(tags, stringTag(k, res[k]))
		}
	}
	return tags
}

func jaegerSpanOf(s Span, procID string) jaegerSpan {
	js := jaegerSpan{
		TraceID: s.TraceID, SpanID: s.SpanID, Flags: 1, OperationName: s.Name,
		References: []jaegerRef{}, Tags: []jaegerTag{}, Logs: []json.RawMessage{}, ProcessID: procID,
	}
	if s.ParentSpanID != "" {
		js.References = append(js.References, jaegerRef{RefType: "CHILD_OF", TraceID: s.TraceID, SpanID: s.ParentSpanID})
	}
	if !s.Start.IsZero() {
		js.StartTime = s.Start.UnixMicro()
	}
	if s.End.After(s.Start) {
		js.Duration = s.End.Sub(s.Start).Microseconds()
	}
	for _, k := range slices.Sorted(maps.Keys(s.Attrs)) {
		js.Tags = append(js.Tags, stringTag(k, s.Attrs[k]))
	}
	if _, clash := s.Attrs[statusTag]; s.StatusCode != "" && !clash {
		js.Tags = append(js.Tags, stringTag(statusTag, s.StatusCode))
		// Jaeger's UI marks a span failed by a bool tag error=true.
		if _, clash := s.Attrs[errorTag]; s.StatusCode == "ERROR" && !clash {
			js.Tags = append(js.Tags, jaegerTag{Key: errorTag, Type: "bool", Value: json.RawMessage("true")})
		}
	}
	return js
}

func stringTag(k, v string) jaegerTag {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep <, >, & readable in the file
	_ = enc.Encode(v)        // a string always encodes
	return jaegerTag{Key: k, Type: "string", Value: bytes.TrimSuffix(b.Bytes(), []byte("\n"))}
}

// fromJaeger converts Jaeger traces to Spans; it undoes jaegerSpanOf and
// reads spans Jaeger translated from OTLP the same way.
func fromJaeger(data []jaegerTrace) []Span {
	var out []Span
	for _, t := range data {
		res := make(map[string]map[string]string, len(t.Processes))
		for id, p := range t.Processes {
			m := tagMap(p.Tags)
			m[ServiceNameKey] = p.ServiceName
			res[id] = m
		}
		for _, js := range t.Spans {
			s := Span{
				TraceID:  normID(js.TraceID, 32),
				SpanID:   normID(js.SpanID, 16),
				Name:     js.OperationName,
				Service:  t.Processes[js.ProcessID].ServiceName,
				Start:    time.UnixMicro(js.StartTime).UTC(),
				Attrs:    tagMap(js.Tags),
				Resource: res[js.ProcessID],
			}
			s.End = s.Start.Add(time.Duration(js.Duration) * time.Microsecond)
			if s.Resource == nil {
				s.Resource = map[string]string{}
			}
			if i := slices.IndexFunc(js.References, func(r jaegerRef) bool { return r.RefType == "CHILD_OF" }); i >= 0 {
				s.ParentSpanID = normID(js.References[i].SpanID, 16)
			}
			if code, ok := s.Attrs[statusTag]; ok {
				s.StatusCode = code
				delete(s.Attrs, statusTag)
				if i := slices.IndexFunc(js.Tags, func(t jaegerTag) bool { return t.Key == errorTag }); i >= 0 &&
					code == "ERROR" && js.Tags[i].Type == "bool" {
					delete(s.Attrs, errorTag)
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func tagMap(tags []jaegerTag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = tagValue(t.Value)
	}
	return m
}

// tagValue renders a tag value like valueString: strings as they are,
// numbers and bools as written.
func tagValue(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// normID lowercases a hex id and restores the leading zeros Jaeger drops
// from a 128-bit trace id whose high half is zero.
func normID(id string, width int) string {
	id = strings.ToLower(id)
	if len(id) < width {
		id = strings.Repeat("0", width-len(id)) + id
	}
	return id
}

// ErrTruncated reports that Jaeger returned as many traces as were asked
// for, so some of the run's traces may be missing.
var ErrTruncated = errors.New("jaeger returned the trace limit; some traces may be missing")
