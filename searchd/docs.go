package searchd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// versionParams reads version, version_type, if_seq_no and if_primary_term
// from a query string or a bulk action line into op. It returns the
// validation problems Elasticsearch would list.
func versionParams(op *writeOp, get func(string) (string, bool)) []string {
	var problems []string
	vt, hasVT := get("version_type")
	vs, hasV := get("version")
	switch vt {
	case "", "internal":
		vt = ""
	case "external", "external_gt":
		vt = "external"
	case "external_gte":
	case "force":
		problems = append(problems, "version type [force] may no longer be used")
	default:
		problems = append(problems, "No version type match ["+vt+"]")
	}
	op.versionType = vt
	if hasV {
		v, err := strconv.ParseInt(vs, 10, 64)
		if err != nil {
			problems = append(problems, "failed to parse version ["+vs+"]")
		}
		op.version = v
	}
	switch {
	case hasV && vt == "" && op.op != "update":
		problems = append(problems, "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead")
	case vt != "" && !hasV && hasVT:
		problems = append(problems, "illegal version value [-3] for version type ["+strings.ToUpper(vt)+"]")
	case vt != "" && op.version < 0:
		problems = append(problems, "illegal version value ["+vs+"] for version type ["+strings.ToUpper(vt)+"]")
	}
	if vt != "" && op.op == "create" {
		problems = append(problems, "create operations only support internal versioning. use index instead")
	}
	if op.op == "update" && (hasV || vt != "") {
		problems = append(problems, "can't provide version in update request")
	}
	for _, k := range []string{"if_seq_no", "if_primary_term"} {
		s, ok := get(k)
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			problems = append(problems, "illegal "+k+" value ["+s+"]")
			continue
		}
		if k == "if_seq_no" {
			op.ifSeqNo = &v
		} else {
			op.ifPrimary = &v
		}
	}
	if len(op.id) > 512 {
		problems = append(problems, "id ["+op.id+"] is too long, must be no longer than 512 bytes but was: "+strconv.Itoa(len(op.id)))
	}
	return problems
}

func queryGetter(q *req) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if !q.q.Has(k) {
			return "", false
		}
		return q.q.Get(k), true
	}
}

// docResponse renders a successful write as the single-document APIs and
// bulk items do.
func docResponse(r writeResult, refreshed bool) map[string]any {
	m := map[string]any{
		"_index": r.index, "_id": r.id, "_version": r.version, "result": r.result,
		"_shards": writeShards(), "_seq_no": r.seqNo, "_primary_term": primaryTS,
	}
	if r.result == "noop" {
		m["_shards"] = map[string]any{"total": 0, "successful": 0, "failed": 0}
	}
	if refreshed && r.result != "noop" {
		m["forced_refresh"] = true
	}
	return m
}

// finishWrites makes the writes durable, then refreshes if asked.
func finishWrites(ixs map[*index]bool, refresh bool) *esError {
	for ix := range ixs {
		if err := ix.sync(); err != nil {
			return errInternal(err)
		}
	}
	if refresh {
		for ix := range ixs {
			if err := ix.refresh(); err != nil {
				return errInternal(err)
			}
		}
	}
	return nil
}

func (n *Node) handleIndexDoc(q *req) {
	op := &writeOp{op: "index"}
	if len(q.segs) == 3 {
		op.id = q.segs[2]
	} else {
		op.id, op.op = newID(), "create"
	}
	if q.segs[1] == "_create" || q.q.Get("op_type") == "create" {
		op.op = "create"
	}
	problems := versionParams(op, queryGetter(q))
	src, e := q.body()
	if e != nil {
		q.fail(e)
		return
	}
	src = bytes.TrimSpace(src)
	if len(src) == 0 {
		problems = append(problems, "source is missing")
	}
	if len(problems) > 0 {
		q.fail(errValidation(problems...))
		return
	}
	op.source = src
	n.singleWrite(q, op, true)
}

func (n *Node) handleDeleteDoc(q *req) {
	op := &writeOp{op: "delete", id: q.segs[2]}
	if problems := versionParams(op, queryGetter(q)); len(problems) > 0 {
		q.fail(errValidation(problems...))
		return
	}
	// Elasticsearch auto-creates the index for a delete only when it
	// carries an external version (so the tombstone can be kept).
	n.singleWrite(q, op, op.versionType != "")
}

func (n *Node) handleUpdateDoc(q *req) {
	op := &writeOp{op: "update", id: q.segs[2]}
	problems := versionParams(op, queryGetter(q))
	b, e := q.body()
	if e != nil {
		q.fail(e)
		return
	}
	if len(problems) > 0 {
		q.fail(errValidation(problems...))
		return
	}
	u, e := parseUpdateBody(b)
	if e != nil {
		q.fail(e)
		return
	}
	op.update = u
	n.singleWrite(q, op, true)
}

func (n *Node) singleWrite(q *req, op *writeOp, autoCreate bool) {
	refresh, e := q.refreshParam()
	if e != nil {
		q.fail(e)
		return
	}
	ix, e := n.writeTarget(q.segs[0], autoCreate)
	if e != nil {
		q.fail(e)
		return
	}
	res := ix.write(op, time.Now())
	if res.err != nil {
		q.fail(res.err)
		return
	}
	if e := finishWrites(map[*index]bool{ix: true}, refresh); e != nil {
		q.fail(e)
		return
	}
	q.reply(res.status, docResponse(res, refresh))
}

// parseUpdateBody reads {"doc":..,"doc_as_upsert":..,"upsert":..}.
func parseUpdateBody(b []byte) (*updateRequest, *esError) {
	var body map[string]any
	if err := decodeJSON(b, &body); err != nil || body == nil {
		return nil, errParse("failed to parse update request body")
	}
	u := &updateRequest{detectNoop: true}
	for k, v := range body {
		switch k {
		case "doc", "upsert":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, errParse("[%s] must be an object", k)
			}
			if k == "doc" {
				u.doc = m
			} else {
				u.upsert = m
			}
		case "doc_as_upsert", "detect_noop":
			bv, ok := v.(bool)
			if !ok {
				return nil, errParse("[%s] must be a boolean", k)
			}
			if k == "doc_as_upsert" {
				u.docAsUpsert = bv
			} else {
				u.detectNoop = bv
			}
		case "script", "scripted_upsert", "_source", "fields":
			return nil, errUnsupported("update." + k)
		default:
			return nil, errParsing("[UpdateRequest] unknown field [%s]", k)
		}
	}
	if u.doc == nil {
		return nil, errValidation("script or doc is missing")
	}
	return u, nil
}

// getResponse renders a realtime GET.
func getResponse(ix *index, id string, d docRead, withSource bool) map[string]any {
	m := map[string]any{"_index": ix.name, "_id": id, "found": d.found}
	if !d.found {
		return m
	}
	m["_version"], m["_seq_no"], m["_primary_term"] = d.version, d.seqNo, primaryTS
	if withSource {
		m["_source"] = json.RawMessage(d.source)
	}
	return m
}

func (n *Node) handleGetDoc(q *req) {
	ix, e := n.resolveOne(q.segs[0], false)
	if e != nil {
		q.fail(e)
		return
	}
	d, e := ix.get(q.segs[2])
	if e != nil {
		q.fail(e)
		return
	}
	status := http.StatusOK
	if !d.found {
		status = http.StatusNotFound
	}
	q.reply(status, getResponse(ix, q.segs[2], d, q.q.Get("_source") != "false"))
}

func (n *Node) handleGetSource(q *req) {
	ix, e := n.resolveOne(q.segs[0], false)
	if e != nil {
		q.fail(e)
		return
	}
	d, e := ix.get(q.segs[2])
	if e != nil {
		q.fail(e)
		return
	}
	if !d.found {
		q.fail(&esError{status: http.StatusNotFound, typ: "resource_not_found_exception",
			reason: "Document not found [" + ix.name + "]/[" + q.segs[2] + "]"})
		return
	}
	q.reply(http.StatusOK, json.RawMessage(d.source))
}

func (n *Node) handleMget(q *req) {
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	defIndex := ""
	if len(q.segs) == 2 {
		defIndex = q.segs[0]
	}
	type item struct {
		index, id string
		source    bool
	}
	var items []item
	var problems []string
	if docs, ok := body["docs"].([]any); ok {
		for i, d := range docs {
			m, ok := d.(map[string]any)
			if !ok {
				q.fail(errParse("docs[%d] must be an object", i))
				return
			}
			it := item{index: defIndex, source: true}
			if s, ok := m["_index"].(string); ok {
				it.index = s
			}
			it.id, _ = m["_id"].(string)
			if src, ok := m["_source"].(bool); ok {
				it.source = src
			}
			if it.index == "" {
				problems = append(problems, "index is missing for doc "+strconv.Itoa(i))
			}
			if it.id == "" {
				problems = append(problems, "id is missing for doc "+strconv.Itoa(i))
			}
			items = append(items, it)
		}
	} else if ids, ok := body["ids"].([]any); ok {
		for i, v := range ids {
			s, ok := v.(string)
			if !ok || s == "" {
				problems = append(problems, "id is missing for doc "+strconv.Itoa(i))
			}
			if defIndex == "" {
				problems = append(problems, "index is missing for doc "+strconv.Itoa(i))
			}
			items = append(items, item{index: defIndex, id: s, source: true})
		}
	}
	if len(items) == 0 && len(problems) == 0 {
		problems = append(problems, "no documents to get")
	}
	if len(problems) > 0 {
		q.fail(errValidation(problems...))
		return
	}
	out := make([]any, 0, len(items))
	for _, it := range items {
		ix, e := n.resolveOne(it.index, false)
		if e == nil {
			var d docRead
			if d, e = ix.get(it.id); e == nil {
				out = append(out, getResponse(ix, it.id, d, it.source && q.q.Get("_source") != "false"))
				continue
			}
		}
		out = append(out, map[string]any{"_index": it.index, "_id": it.id, "error": e.body()["error"]})
	}
	q.reply(http.StatusOK, map[string]any{"docs": out})
}
