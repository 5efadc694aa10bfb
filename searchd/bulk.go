package searchd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// bulkItem is one parsed action of a _bulk request.
type bulkItem struct {
	index string
	op    writeOp
}

var bulkActions = map[string]bool{"index": true, "create": true, "update": true, "delete": true}

// parseBulk splits an NDJSON body into items. Anything Elasticsearch
// rejects for the whole request (a malformed line, a missing index, a bad
// version) is returned as the request's error.
func parseBulk(body []byte, defIndex string) ([]bulkItem, *esError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errValidation("no requests added")
	}
	if body[len(body)-1] != '\n' {
		return nil, errIllegalArgument("The bulk request must be terminated by a newline [\\n]")
	}
	lines := bytes.Split(body[:len(body)-1], []byte{'\n'})
	var items []bulkItem
	var problems []string
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		lineNo := i + 1
		var action map[string]json.RawMessage
		if err := json.Unmarshal(line, &action); err != nil {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [%s]", lineNo, tokenKind(line))
		}
		if len(action) != 1 {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected a simple value for field [%s] but found [START_OBJECT]", lineNo, "action")
		}
		var kind string
		var metaRaw json.RawMessage
		for k, v := range action {
			kind, metaRaw = k, v
		}
		if !bulkActions[kind] {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", lineNo, kind)
		}
		var meta map[string]any
		if err := decodeJSON(metaRaw, &meta); err != nil || meta == nil {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", lineNo, tokenKind(metaRaw))
		}
		it := bulkItem{index: defIndex, op: writeOp{op: kind}}
		for k, v := range meta {
			switch k {
			case "_index", "_id":
				s, ok := v.(string)
				if !ok {
					if num, isNum := v.(json.Number); isNum && k == "_id" {
						s, ok = num.String(), true
					}
				}
				if !ok {
					return nil, errIllegalArgument("Malformed action/metadata line [%d], expected a simple value for field [%s] but found [%T]", lineNo, k, v)
				}
				if k == "_index" {
					it.index = s
				} else {
					it.op.id = s
				}
			case "version", "version_type", "if_seq_no", "if_primary_term", "routing", "require_alias", "retry_on_conflict", "dynamic_templates":
			case "pipeline", "_source":
				return nil, errUnsupported("_bulk." + kind + "." + k)
			default:
				return nil, errIllegalArgument("Action/metadata line [%d] contains an unknown parameter [%s]", lineNo, k)
			}
		}
		problems = append(problems, versionParams(&it.op, func(k string) (string, bool) {
			v, ok := meta[k]
			if !ok {
				return "", false
			}
			return fmt.Sprint(v), true
		})...)
		if it.index == "" {
			problems = append(problems, "index is missing")
		}
		if it.op.id == "" && (kind == "update" || kind == "delete") {
			problems = append(problems, "id is missing")
		}
		if kind != "delete" {
			i++
			if i >= len(lines) {
				return nil, errIllegalArgument("The bulk request must be terminated by a newline [\\n]")
			}
			src := bytes.TrimSpace(lines[i])
			if kind == "update" {
				u, e := parseUpdateBody(src)
				if e != nil {
					return nil, e
				}
				it.op.update = u
			} else {
				it.op.source = src
				if len(src) == 0 {
					problems = append(problems, "source is missing")
				}
			}
			if it.op.id == "" {
				it.op.id = newID()
			}
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		problems = append(problems, "no requests added")
	}
	if len(problems) > 0 {
		return nil, errValidation(problems...)
	}
	return items, nil
}

func tokenKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "null"
	}
	switch b[0] {
	case '{':
		return "START_OBJECT"
	case '[':
		return "START_ARRAY"
	case '"':
		return "VALUE_STRING"
	case 't', 'f':
		return "VALUE_BOOLEAN"
	case 'n':
		return "VALUE_NULL"
	}
	if _, err := strconv.ParseFloat(string(b), 64); err == nil {
		return "VALUE_NUMBER"
	}
	return "UNKNOWN"
}

func (n *Node) handleBulk(q *req) {
	refresh, e := q.refreshParam()
	if e != nil {
		q.fail(e)
		return
	}
	body, e := q.body()
	if e != nil {
		q.fail(e)
		return
	}
	defIndex := ""
	if len(q.segs) == 2 {
		defIndex = q.segs[0]
	}
	items, e := parseBulk(body, defIndex)
	if e != nil {
		q.fail(e)
		return
	}
	touched := map[*index]bool{}
	results := make([]any, len(items))
	failed := false
	now := time.Now()
	for i := range items {
		it := &items[i]
		res := n.bulkWrite(it, now, touched)
		var entry map[string]any
		if res.err != nil {
			failed = true
			entry = map[string]any{"_index": res.index, "_id": res.id, "status": res.status, "error": res.err.object()}
		} else {
			entry = docResponse(res, refresh)
			entry["status"] = res.status
		}
		results[i] = map[string]any{it.op.op: entry}
	}
	if e := finishWrites(touched, refresh); e != nil {
		q.fail(e)
		return
	}
	q.reply(http.StatusOK, map[string]any{"took": q.took(), "errors": failed, "items": results})
}

func (n *Node) bulkWrite(it *bulkItem, now time.Time, touched map[*index]bool) writeResult {
	autoCreate := it.op.op != "delete" || it.op.versionType != ""
	ix, e := n.writeTarget(it.index, autoCreate)
	if e != nil {
		return writeResult{index: it.index, id: it.op.id, status: e.status, err: e}
	}
	res := ix.write(&it.op, now)
	if res.err == nil {
		touched[ix] = true
	}
	return res
}
