package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// BulkItem is one action of a _bulk request.
type BulkItem struct {
	Op          string // "index", "create", "update", "delete"
	Index, ID   string
	Version     int64  // 0 = not sent
	VersionType string // "external", "external_gte" or ""
	// Doc is the JSON source for index/create; for update, the whole update
	// body ({"doc":..} or {"script":..}). json.RawMessage and []byte are
	// sent as they are (compacted onto one line); anything else is
	// marshalled. Ignored for delete.
	Doc any
}

// BulkResult is the answer to a _bulk request the engine accepted (HTTP 2xx).
type BulkResult struct {
	Took   int
	Errors bool
	Items  []ItemResult // same order and length as the request items
}

// ItemResult is the engine's verdict on one BulkItem. Status is the item's
// own HTTP-like status (201, 200, 404, 409, 429, 403, 400, ...); a failed
// item has ErrorType and ErrorReason.
type ItemResult struct {
	Op, Index, ID string
	Status        int
	Version       int64
	Result        string // "created", "updated", "deleted", "not_found", "noop"
	ErrorType     string
	ErrorReason   string
}

// Bulk sends items in one _bulk request. refresh is "", "true", "false" or
// "wait_for". A 2xx answer with per-item failures is not an error: read
// each ItemResult. A whole-request rejection (429, 413, 5xx, ...) is a
// KindStatus *Error; an answer with another number of items than the
// request is KindProtocol (callers check that item ids line up). An error that is not an *Error means nothing was sent
// (invalid items) or the caller cancelled. An empty items sends nothing.
func (c *Client) Bulk(ctx context.Context, items []BulkItem, refresh string) (BulkResult, error) {
	const op = "bulk"
	if len(items) == 0 {
		return BulkResult{}, nil
	}
	var q url.Values
	switch refresh {
	case "":
	case "true", "false", "wait_for":
		q = url.Values{"refresh": {refresh}}
	default:
		return BulkResult{}, fmt.Errorf("search bulk: refresh %q is not one of \"\", true, false, wait_for", refresh)
	}
	body, err := encodeBulk(items)
	if err != nil {
		return BulkResult{}, fmt.Errorf("search bulk: %w", err)
	}
	resp, err := c.do(ctx, op, http.MethodPost, "/_bulk", q, body, "application/x-ndjson")
	if err != nil {
		return BulkResult{}, err
	}
	if !resp.ok() {
		return BulkResult{}, c.fail(op, resp)
	}
	res, err := parseBulk(resp.body, len(items))
	if err != nil {
		return BulkResult{}, c.scrub(&Error{Kind: KindProtocol, Op: op, Status: resp.status, Reason: err.Error(), Err: err})
	}
	return res, nil
}

// actionMeta is the action line's metadata; field order is the wire order.
type actionMeta struct {
	Index       string `json:"_index"`
	ID          string `json:"_id,omitempty"`
	Version     int64  `json:"version,omitempty"`
	VersionType string `json:"version_type,omitempty"`
}

// encodeBulk renders items as NDJSON: an action line, then a source line
// for index/create/update, each ending in "\n" (the last one included).
func encodeBulk(items []BulkItem) ([]byte, error) {
	var buf bytes.Buffer
	for i, it := range items {
		if err := checkItem(it); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		meta := actionMeta{Index: it.Index, ID: it.ID, Version: it.Version, VersionType: it.VersionType}
		line, err := json.Marshal(map[string]actionMeta{it.Op: meta})
		if err != nil {
			return nil, fmt.Errorf("item %d: encode action: %w", i, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		if it.Op == "delete" {
			continue
		}
		if err := writeSource(&buf, it.Doc); err != nil {
			return nil, fmt.Errorf("item %d (%s %s/%s): %w", i, it.Op, it.Index, it.ID, err)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

func checkItem(it BulkItem) error {
	switch it.Op {
	case "index", "create", "update", "delete":
	default:
		return fmt.Errorf("op %q is not index, create, update or delete", it.Op)
	}
	if it.Index == "" {
		return fmt.Errorf("%s has no index", it.Op)
	}
	if it.ID == "" && (it.Op == "update" || it.Op == "delete") {
		return fmt.Errorf("%s needs an id", it.Op)
	}
	switch it.VersionType {
	case "", "external", "external_gte":
	default:
		return fmt.Errorf("version type %q is not external or external_gte", it.VersionType)
	}
	if it.Version < 0 {
		return fmt.Errorf("version %d is negative", it.Version)
	}
	if it.Version != 0 && it.Op == "update" {
		// The engine refuses the whole bulk for this; refuse the item first.
		return fmt.Errorf("update cannot carry a version")
	}
	if it.Op != "delete" && it.Doc == nil {
		return fmt.Errorf("%s needs a Doc", it.Op)
	}
	return nil
}

// writeSource writes doc as one line of JSON.
func writeSource(buf *bytes.Buffer, doc any) error {
	var raw []byte
	switch d := doc.(type) {
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	default:
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encode doc: %w", err)
		}
		buf.Write(b) // json.Marshal never emits a raw newline
		return nil
	}
	if err := json.Compact(buf, raw); err != nil {
		return fmt.Errorf("doc is not valid JSON: %w", err)
	}
	return nil
}

// bulkItemBody is one item of a _bulk answer. _type (Elasticsearch 7) is
// accepted and ignored.
type bulkItemBody struct {
	Index   string          `json:"_index"`
	ID      string          `json:"_id"`
	Version int64           `json:"_version"`
	Result  string          `json:"result"`
	Status  int             `json:"status"`
	Error   json.RawMessage `json:"error"`
}

// parseBulk decodes a _bulk answer and checks it against the request size.
func parseBulk(body []byte, want int) (BulkResult, error) {
	var raw struct {
		Took   int                       `json:"took"`
		Errors bool                      `json:"errors"`
		Items  []map[string]bulkItemBody `json:"items"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return BulkResult{}, fmt.Errorf("unparseable bulk answer (%w): %s", err, excerpt(body))
	}
	if len(raw.Items) != want {
		return BulkResult{}, fmt.Errorf("bulk answer has %d items for %d sent", len(raw.Items), want)
	}
	res := BulkResult{Took: raw.Took, Errors: raw.Errors, Items: make([]ItemResult, len(raw.Items))}
	for i, entry := range raw.Items {
		it, err := parseItem(entry)
		if err != nil {
			return BulkResult{}, fmt.Errorf("bulk item %d: %w", i, err)
		}
		res.Items[i] = it
	}
	return res, nil
}

func parseItem(entry map[string]bulkItemBody) (ItemResult, error) {
	if len(entry) != 1 {
		return ItemResult{}, fmt.Errorf("has %d operations, want 1", len(entry))
	}
	var it ItemResult
	for op, ib := range entry {
		if ib.Status == 0 {
			return ItemResult{}, fmt.Errorf("%s %s/%s has no status", op, ib.Index, ib.ID)
		}
		it = ItemResult{Op: op, Index: ib.Index, ID: ib.ID, Status: ib.Status, Version: ib.Version, Result: ib.Result}
		if len(ib.Error) > 0 && string(ib.Error) != "null" {
			it.ErrorType, it.ErrorReason = parseItemError(ib.Error)
		}
	}
	return it, nil
}

// parseItemError reads an item's error: an object {type, reason, ...} on
// every engine this client targets, a plain string on very old ones.
func parseItemError(raw json.RawMessage) (typ, reason string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "", s
	}
	var obj struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return "", excerpt(raw)
	}
	return obj.Type, obj.Reason
}
