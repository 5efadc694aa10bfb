package traces_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firedrill/drill/traces"
)

func TestReadFileMissing(t *testing.T) {
	_, err := traces.ReadFile(filepath.Join(t.TempDir(), "nope.ndjson"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestReadFileCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spans.ndjson")
	one := strings.ReplaceAll(handJSON, "\n", "")
	if err := os.WriteFile(path, []byte(one+"\n\n{\"resourceSpans\":[\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := traces.ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("got %v, want an error naming line 3", err)
	}
}

func TestReadFileNoTrailingNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spans.ndjson")
	one := strings.ReplaceAll(handJSON, "\n", "")
	if err := os.WriteFile(path, []byte(one+"\n"+one), 0o644); err != nil {
		t.Fatal(err)
	}
	spans, err := traces.ReadFile(path)
	if err != nil || len(spans) != 2 {
		t.Errorf("got %d spans, err %v; want 2, nil", len(spans), err)
	}
}

func TestFilter(t *testing.T) {
	res := map[string]string{"service.name": "firedrill-projector", "firedrill.run_id": "r1"}
	spans := []traces.Span{
		{SpanID: "a", Name: "projection.process_batch", Attrs: map[string]string{"result": "retry", "reason": "es_429"}, Resource: res},
		{SpanID: "b", Name: "projection.process_batch", Attrs: map[string]string{"result": "ok"}, Resource: res},
		{SpanID: "c", Name: "outbox.process", Attrs: map[string]string{"outbox.event_id": "e1"}, Resource: res},
		// A span attribute wins over a resource attribute of the same key.
		{SpanID: "d", Name: "outbox.claim", Attrs: map[string]string{"firedrill.run_id": "other"}, Resource: res},
	}
	tests := []struct {
		name  string
		span  string
		match map[string]string
		want  string
	}{
		{"all", "", nil, "abcd"},
		{"by name", "projection.process_batch", nil, "ab"},
		{"by attr", "projection.process_batch", map[string]string{"result": "retry"}, "a"},
		{"two attrs", "", map[string]string{"result": "retry", "reason": "es_5xx"}, ""},
		{"resource attr", "", map[string]string{"firedrill.run_id": "r1"}, "abc"},
		{"missing key", "", map[string]string{"nope": ""}, ""},
		{"unknown name", "nope", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got strings.Builder
			for _, s := range traces.Filter(spans, tt.span, tt.match) {
				got.WriteString(s.SpanID)
			}
			if got.String() != tt.want {
				t.Errorf("got %q, want %q", got.String(), tt.want)
			}
		})
	}
}
