package httpproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// bulkItem is one action of a _bulk body with its raw lines.
type bulkItem struct {
	op      string // index, create, update, delete
	index   string
	id      string
	version int64
	lines   []byte // action line and, except for delete, the source line, each with "\n"
}

// parseBulk splits an NDJSON _bulk body into items. defIndex is the index
// of a /{index}/_bulk path. A body the proxy cannot parse is forwarded as is
// (the engine answers it), so the error only says why nothing was injected.
func parseBulk(body []byte, defIndex string) ([]bulkItem, error) {
	var items []bulkItem
	rest := body
	next := func() ([]byte, bool) {
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, '\n')
			var line []byte
			if i < 0 {
				line, rest = rest, nil
			} else {
				line, rest = rest[:i+1], rest[i+1:]
			}
			if len(bytes.TrimSpace(line)) > 0 {
				return line, true
			}
		}
		return nil, false
	}
	for {
		action, ok := next()
		if !ok {
			return items, nil
		}
		var head map[string]struct {
			Index   string          `json:"_index"`
			ID      string          `json:"_id"`
			Version json.RawMessage `json:"version"`
		}
		if err := json.Unmarshal(action, &head); err != nil || len(head) != 1 {
			return nil, fmt.Errorf("bulk action line %d is not an object with one action", len(items)+1)
		}
		var it bulkItem
		for op, meta := range head {
			it.op, it.index, it.id = op, meta.Index, meta.ID
			if len(meta.Version) > 0 {
				_ = json.Unmarshal(meta.Version, &it.version)
			}
		}
		if it.index == "" {
			it.index = defIndex
		}
		it.lines = append(it.lines, withNewline(action)...)
		switch it.op {
		case "delete":
		case "index", "create", "update":
			src, ok := next()
			if !ok {
				return nil, fmt.Errorf("bulk item %d (%s) has no source line", len(items)+1, it.op)
			}
			it.lines = append(it.lines, withNewline(src)...)
		default:
			return nil, fmt.Errorf("bulk item %d has unknown action %q", len(items)+1, it.op)
		}
		items = append(items, it)
	}
}

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b
	}
	return append(append([]byte(nil), b...), '\n')
}

// joinBulk writes the items' lines back into a body.
func joinBulk(items []bulkItem) []byte {
	var b bytes.Buffer
	for _, it := range items {
		b.Write(it.lines)
	}
	return b.Bytes()
}

// synthItem is the result of an item the proxy failed on purpose, shaped as
// Elasticsearch answers it.
func synthItem(it bulkItem, status int) json.RawMessage {
	body := map[string]any{"_index": it.index, "status": status}
	if it.id != "" {
		body["_id"] = it.id
	}
	switch status {
	case 429:
		body["error"] = map[string]any{"type": "es_rejected_execution_exception",
			"reason": "rejected execution of coordinating operation [firedrill fault injection]"}
	default:
		body["error"] = map[string]any{"type": "mapper_parsing_exception",
			"reason": "failed to parse [firedrill fault injection]"}
	}
	b, _ := json.Marshal(map[string]any{it.op: body})
	return b
}

// bulkAnswer is a decoded _bulk response that keeps every field it does not
// change byte for byte.
type bulkAnswer struct {
	fields map[string]json.RawMessage
	items  []json.RawMessage
}

func decodeBulkAnswer(b []byte) (*bulkAnswer, error) {
	var a bulkAnswer
	if err := json.Unmarshal(b, &a.fields); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(a.fields["items"], &a.items); err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	return &a, nil
}

// itemStatus reads the status of one answered item (0 when absent).
func itemStatus(raw json.RawMessage) int {
	var m map[string]struct {
		Status int `json:"status"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return 0
	}
	for _, v := range m {
		return v.Status
	}
	return 0
}

// merge puts the synthesised results back between the upstream's, in the
// request's order, and sets errors.
func merge(a *bulkAnswer, synth map[int]json.RawMessage, total int) ([]byte, error) {
	if len(a.items)+len(synth) != total {
		return nil, fmt.Errorf("upstream answered %d items for %d forwarded", len(a.items), total-len(synth))
	}
	out := make([]json.RawMessage, 0, total)
	next := 0
	for i := range total {
		if s, ok := synth[i]; ok {
			out = append(out, s)
			continue
		}
		out = append(out, a.items[next])
		next++
	}
	items, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	a.fields["items"] = items
	if len(synth) > 0 {
		a.fields["errors"] = json.RawMessage("true")
	}
	return json.Marshal(a.fields)
}

// synthAnswer is a whole _bulk answer when every item was failed on purpose.
func synthAnswer(synth map[int]json.RawMessage, total int) []byte {
	items := make([]json.RawMessage, total)
	for i := range total {
		items[i] = synth[i]
	}
	b, _ := json.Marshal(map[string]any{"took": 0, "errors": true, "items": items})
	return b
}

// docOp is the op and index of a single-document request, or "" when the
// path is not one: PUT|POST /{index}/_doc[/{id}], /_create/, /_update/,
// DELETE /{index}/_doc/{id}.
func docOp(method, path string) (op, index string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 || strings.HasPrefix(segs[0], "_") {
		return "", ""
	}
	switch segs[1] {
	case "_doc":
		switch method {
		case "PUT", "POST":
			return "index", segs[0]
		case "DELETE":
			return "delete", segs[0]
		}
	case "_create":
		return "create", segs[0]
	case "_update":
		return "update", segs[0]
	}
	return "", ""
}

// bulkPath reports whether path is /_bulk or /{index}/_bulk, and its index.
func bulkPath(path string) (bool, string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(segs) == 1 && segs[0] == "_bulk":
		return true, ""
	case len(segs) == 2 && segs[1] == "_bulk":
		return true, segs[0]
	}
	return false, ""
}
