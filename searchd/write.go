package searchd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/blevesearch/bleve/v2/document"
	bindex "github.com/blevesearch/bleve_index_api"
)

// writeOp is one document write: a bulk item or a single-document request.
type writeOp struct {
	op          string // index, create, update, delete
	id          string
	versionType string // "", "external" or "external_gte"
	version     int64
	ifSeqNo     *int64
	ifPrimary   *int64
	source      []byte         // index, create
	update      *updateRequest // update
}

// updateRequest is the body of an update: a partial doc and upsert options.
type updateRequest struct {
	doc         map[string]any
	upsert      map[string]any
	docAsUpsert bool
	detectNoop  bool
}

// writeResult is the outcome of one writeOp, in Elasticsearch's terms.
type writeResult struct {
	index   string
	id      string
	version int64
	seqNo   int64
	result  string // created, updated, deleted, not_found, noop
	status  int
	err     *esError
}

// write applies op under the index lock. The caller syncs the log (sync)
// before acknowledging.
func (ix *index) write(op *writeOp, now time.Time) writeResult {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	res := writeResult{index: ix.name, id: op.id}
	fail := func(e *esError) writeResult {
		res.err, res.status = e, e.status
		return res
	}
	if ix.closed {
		return fail(errIndexNotFound(ix.name))
	}
	st := ix.state.Load()
	if st.set.writeBlock != "" {
		return fail(errWriteBlocked(ix, st.set.writeBlock))
	}
	cur := ix.docs.entries[op.id]
	if cur != nil && cur.deleted && now.UnixMilli()-cur.deletedAt > st.set.gcDeletes.Milliseconds() {
		delete(ix.docs.entries, op.id) // the tombstone has expired (index.gc_deletes)
		cur = nil
	}
	live := cur != nil && !cur.deleted
	if op.ifSeqNo != nil {
		if e := ix.checkSeqNo(op, cur, live); e != nil {
			return fail(e)
		}
	}
	switch op.op {
	case "delete":
		v, e := ix.nextVersion(op, cur)
		if e != nil {
			return fail(e)
		}
		seq := ix.docs.maxSeq + 1
		if err := ix.docs.appendDelete(op.id, v, seq, now); err != nil {
			return fail(errInternal(err))
		}
		ix.pending[op.id] = struct{}{}
		res.version, res.seqNo, res.result, res.status = v, seq, "deleted", http.StatusOK
		if !live {
			res.result, res.status = "not_found", http.StatusNotFound
		}
		return res
	case "update":
		return ix.applyUpdate(op, st, cur, live, now, res)
	}
	if op.op == "create" && live {
		return fail(errVersionConflict(ix, op.id, fmt.Sprintf("document already exists (current version [%d])", cur.version)))
	}
	if e := ix.checkSource(st, op.id, op.source); e != nil {
		return fail(e)
	}
	v, e := ix.nextVersion(op, cur)
	if e != nil {
		return fail(e)
	}
	return ix.store(op.id, v, op.source, live, now, res)
}

// store appends a live document. Caller holds mu and has checked it.
func (ix *index) store(id string, version int64, src []byte, wasLive bool, now time.Time, res writeResult) writeResult {
	seq := ix.docs.maxSeq + 1
	if err := ix.docs.appendIndex(id, version, seq, src, now); err != nil {
		res.err = errInternal(err)
		res.status = res.err.status
		return res
	}
	ix.pending[id] = struct{}{}
	res.version, res.seqNo, res.result, res.status = version, seq, "created", http.StatusCreated
	if wasLive {
		res.result, res.status = "updated", http.StatusOK
	}
	return res
}

func (ix *index) checkSeqNo(op *writeOp, cur *docEntry, live bool) *esError {
	term := int64(primaryTS)
	if op.ifPrimary != nil {
		term = *op.ifPrimary
	}
	if !live {
		return errVersionConflict(ix, op.id, fmt.Sprintf("required seqNo [%d], primary term [%d]. but no document was found", *op.ifSeqNo, term))
	}
	if cur.seqNo != *op.ifSeqNo || term != primaryTS {
		return errVersionConflict(ix, op.id, fmt.Sprintf("required seqNo [%d], primary term [%d]. current document has seqNo [%d] and primary term [%d]",
			*op.ifSeqNo, term, cur.seqNo, primaryTS))
	}
	return nil
}

// nextVersion applies Elasticsearch's version rules; cur is the live
// document or an unexpired tombstone, nil when the id is unknown.
func (ix *index) nextVersion(op *writeOp, cur *docEntry) (int64, *esError) {
	switch op.versionType {
	case "external":
		if cur != nil && op.version <= cur.version {
			return 0, errVersionConflict(ix, op.id, fmt.Sprintf("current version [%d] is higher or equal to the one provided [%d]", cur.version, op.version))
		}
		return op.version, nil
	case "external_gte":
		if cur != nil && op.version < cur.version {
			return 0, errVersionConflict(ix, op.id, fmt.Sprintf("current version [%d] is higher than the one provided [%d]", cur.version, op.version))
		}
		return op.version, nil
	}
	if cur != nil {
		return cur.version + 1, nil
	}
	return 1, nil
}

// checkSource validates src against the mapping and applies any dynamic
// mapping it needs. Caller holds mu.
func (ix *index) checkSource(st *indexState, id string, src []byte) *esError {
	_, dyn, e := analyzeSource(st.mapping, id, src, false)
	if e != nil {
		return e
	}
	if len(dyn) == 0 {
		return nil
	}
	view, e := st.mapping.withFields(dyn)
	if e != nil {
		return e
	}
	meta := st.meta
	meta.Mappings = view.raw
	return ix.setState(meta)
}

func (ix *index) applyUpdate(op *writeOp, st *indexState, cur *docEntry, live bool, now time.Time, res writeResult) writeResult {
	u := op.update
	fail := func(e *esError) writeResult {
		res.err, res.status = e, e.status
		return res
	}
	if !live {
		var src map[string]any
		switch {
		case u.docAsUpsert && u.doc != nil:
			src = u.doc
		case u.upsert != nil:
			src = u.upsert
		default:
			return fail(errDocumentMissing(ix, op.id))
		}
		b, err := json.Marshal(src)
		if err != nil {
			return fail(errMapperParsing("failed to parse: %v", err))
		}
		if e := ix.checkSource(st, op.id, b); e != nil {
			return fail(e)
		}
		v, _ := ix.nextVersion(&writeOp{id: op.id}, cur)
		return ix.store(op.id, v, b, false, now, res)
	}
	old, err := ix.docs.source(cur)
	if err != nil {
		return fail(errInternal(err))
	}
	var doc map[string]any
	if err := decodeJSON(old, &doc); err != nil {
		return fail(errInternal(fmt.Errorf("stored source of %s is not JSON: %w", op.id, err)))
	}
	if doc == nil {
		doc = map[string]any{}
	}
	before := deepCopy(doc)
	mergeInto(doc, u.doc)
	if u.detectNoop && reflect.DeepEqual(before, any(doc)) {
		res.version, res.seqNo, res.result, res.status = cur.version, cur.seqNo, "noop", http.StatusOK
		return res
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fail(errMapperParsing("failed to parse: %v", err))
	}
	if e := ix.checkSource(st, op.id, b); e != nil {
		return fail(e)
	}
	return ix.store(op.id, cur.version+1, b, true, now, res)
}

// mergeInto deep-merges a partial document into dst, as an update's "doc"
// does: objects merge, anything else replaces.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = deepCopy(v)
	}
}

// sync makes the index's acknowledged writes durable.
func (ix *index) sync() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	return ix.docs.sync()
}

// doc is a realtime read from the document log.
type docRead struct {
	found   bool
	version int64
	seqNo   int64
	source  []byte
}

func (ix *index) get(id string) (docRead, *esError) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return docRead{}, errIndexNotFound(ix.name)
	}
	e, ok := ix.docs.entries[id]
	if !ok || e.deleted {
		return docRead{}, nil
	}
	src, err := ix.docs.source(e)
	if err != nil {
		return docRead{}, errInternal(err)
	}
	return docRead{found: true, version: e.version, seqNo: e.seqNo, source: src}, nil
}

// addStored adds the stored-only fields a search hit is rendered from, so
// hits show the source as of the refresh, not as of the search.
func addStored(doc *document.Document, src []byte, version, seq int64) {
	doc.AddField(document.NewTextFieldWithIndexingOptions(srcField, nil, src, bindex.StoreField))
	doc.AddField(document.NewTextFieldWithIndexingOptions(metaField, nil, fmt.Appendf(nil, "%d %d", version, seq), bindex.StoreField))
}
