package searchd

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	bindex "github.com/blevesearch/bleve_index_api"
)

// appliedSeqKey is the Bleve internal key holding the highest sequence
// number whose effect the Bleve index contains. It is written in the same
// batch as the documents, so after a crash Open replays exactly the
// document log records above it.
var appliedSeqKey = []byte("searchd.applied_seq")

// Field names in the Bleve documents besides the mapped fields.
const (
	srcField  = "_searchd_source"  // stored only: _source as of the refresh
	metaField = "_searchd_version" // stored only: "version seq"
)

// indexMeta is what meta.json holds; the document log and the Bleve index
// sit beside it.
type indexMeta struct {
	Name     string         `json:"name"`
	UUID     string         `json:"uuid"`
	Created  int64          `json:"creation_date"`
	Settings map[string]any `json:"settings"` // flat, "index."-prefixed, as set
	Mappings map[string]any `json:"mappings"`
}

// indexState is an immutable snapshot of an index's settings and mapping;
// writers replace it under index.mu, readers load it without locking.
type indexState struct {
	meta    indexMeta
	set     indexSettings
	mapping *mappingView
}

// index is one Elasticsearch index: a document log (versions, tombstones,
// sources — the truth, read by GET) and a Bleve index (what search and
// count see, brought up to date by refresh).
type index struct {
	name, uuid, dir string
	log             *slog.Logger

	state atomic.Pointer[indexState]

	mu      sync.Mutex // guards docs, pending, closed
	docs    *docLog
	pending map[string]struct{} // ids written since the last refresh
	closed  bool                // deleted or node closed

	refreshMu   sync.Mutex   // one refresh at a time, so batches apply in order
	bmu         sync.RWMutex // guards bl against Close while searching
	bl          bleve.Index
	blClosed    bool         // guarded by bmu
	lastRefresh atomic.Int64 // unix nanos
}

const (
	metaFile  = "meta.json"
	bleveDir  = "bleve"
	primaryTS = 1 // _primary_term: there is one primary, forever
)

// createIndex makes the directory and files of a new index.
func createIndex(dir string, meta indexMeta, log *slog.Logger) (*index, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create index dir: %w", err)
	}
	if err := writeMeta(dir, meta); err != nil {
		return nil, err
	}
	bl, err := bleve.NewUsing(filepath.Join(dir, bleveDir), bleveMapping(), bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore, nil)
	if err != nil {
		return nil, fmt.Errorf("create bleve index: %w", err)
	}
	return finishOpen(dir, meta, bl, log)
}

// openIndex opens an existing index directory and brings its Bleve index
// up to date with the document log.
func openIndex(dir string, log *slog.Logger) (*index, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("read index meta: %w", err)
	}
	var meta indexMeta
	if err := decodeJSON(b, &meta); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, metaFile), err)
	}
	bl, err := bleve.Open(filepath.Join(dir, bleveDir))
	if err != nil {
		return nil, fmt.Errorf("open bleve index of %s: %w", meta.Name, err)
	}
	return finishOpen(dir, meta, bl, log)
}

func finishOpen(dir string, meta indexMeta, bl bleve.Index, log *slog.Logger) (*index, error) {
	bl.SetName(meta.Name)
	st, eerr := newState(meta)
	if eerr != nil {
		_ = bl.Close()
		return nil, fmt.Errorf("index %s: %w", meta.Name, eerr)
	}
	docs, err := openDocLog(dir, log)
	if err != nil {
		_ = bl.Close()
		return nil, err
	}
	ix := &index{name: meta.Name, uuid: meta.UUID, dir: dir, log: log, docs: docs, pending: map[string]struct{}{}, bl: bl}
	ix.state.Store(st)
	ix.lastRefresh.Store(time.Now().UnixNano())
	// Everything the log holds beyond what Bleve applied is pending.
	applied, err := bl.GetInternal(appliedSeqKey)
	if err != nil {
		_ = ix.close()
		return nil, fmt.Errorf("read applied seq of %s: %w", meta.Name, err)
	}
	var appliedSeq int64 = -1
	if len(applied) == 8 {
		appliedSeq = int64(binary.BigEndian.Uint64(applied))
	}
	for id, e := range docs.entries {
		if e.seqNo > appliedSeq {
			ix.pending[id] = struct{}{}
		}
	}
	if err := ix.refresh(); err != nil {
		_ = ix.close()
		return nil, err
	}
	docs.dropExpired(time.Now().Add(-st.set.gcDeletes).UnixMilli())
	if docs.needsCompaction() {
		if err := docs.compact(); err != nil {
			log.Warn("compacting document log failed; continuing with the old one", "index", meta.Name, "error", err.Error())
		}
	}
	return ix, nil
}

// bleveMapping is only used for query-time defaults: documents are built by
// searchd itself (analyzeSource) and indexed with IndexAdvanced.
func bleveMapping() *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	m.ScoringModel = bindex.BM25Scoring
	m.DefaultMapping.Dynamic = false
	return m
}

func newState(meta indexMeta) (*indexState, *esError) {
	set, err := interpretSettings(meta.Settings)
	if err != nil {
		return nil, err
	}
	view, err := parseMapping(meta.Mappings)
	if err != nil {
		return nil, err
	}
	meta.Mappings = view.raw
	return &indexState{meta: meta, set: set, mapping: view}, nil
}

func writeMeta(dir string, meta indexMeta) error {
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encode index meta: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, metaFile), b); err != nil {
		return fmt.Errorf("write index meta: %w", err)
	}
	return nil
}

// setState persists a new meta and publishes its state. Caller holds mu.
func (ix *index) setState(meta indexMeta) *esError {
	st, eerr := newState(meta)
	if eerr != nil {
		return eerr
	}
	if err := writeMeta(ix.dir, st.meta); err != nil {
		return errInternal(err)
	}
	ix.state.Store(st)
	return nil
}

// refresh applies the pending writes to Bleve, making them visible to
// search and count.
func (ix *index) refresh() error {
	ix.refreshMu.Lock()
	defer ix.refreshMu.Unlock()
	ix.mu.Lock()
	if len(ix.pending) == 0 || ix.closed {
		ix.mu.Unlock()
		return nil
	}
	type change struct {
		id      string
		src     []byte
		version int64
		seq     int64
	}
	changes := make([]change, 0, len(ix.pending))
	for id := range ix.pending {
		c := change{id: id}
		if e, ok := ix.docs.entries[id]; ok && !e.deleted {
			src, err := ix.docs.source(e)
			if err != nil {
				ix.mu.Unlock()
				return err
			}
			c.src, c.version, c.seq = src, e.version, e.seqNo
		}
		changes = append(changes, c)
	}
	pending := ix.pending
	ix.pending = map[string]struct{}{}
	seq := ix.docs.maxSeq
	view := ix.state.Load().mapping
	ix.mu.Unlock()

	batch := ix.bl.NewBatch()
	for _, c := range changes {
		if c.src == nil {
			batch.Delete(c.id)
			continue
		}
		doc, _, eerr := analyzeSource(view, c.id, c.src, true)
		if eerr != nil {
			// Checked when written; a mapping change since is the only way here.
			ix.log.Warn("document no longer matches its mapping; indexing its id only", "index", ix.name, "id", c.id, "error", eerr.reason)
			doc, _, _ = analyzeSource(&mappingView{dynamic: "false", fields: map[string]*fieldDef{}, objects: map[string]string{}}, c.id, c.src, true)
		}
		addStored(doc, c.src, c.version, c.seq)
		if err := batch.IndexAdvanced(doc); err != nil {
			ix.requeue(pending)
			return fmt.Errorf("refresh %s: %w", ix.name, err)
		}
	}
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], uint64(seq))
	batch.SetInternal(appliedSeqKey, sb[:])
	ix.bmu.RLock()
	var err error
	if !ix.blClosed {
		err = ix.bl.Batch(batch)
	}
	ix.bmu.RUnlock()
	if err != nil {
		ix.requeue(pending)
		return fmt.Errorf("refresh %s: %w", ix.name, err)
	}
	ix.lastRefresh.Store(time.Now().UnixNano())
	return nil
}

func (ix *index) requeue(ids map[string]struct{}) {
	ix.mu.Lock()
	for id := range ids {
		ix.pending[id] = struct{}{}
	}
	ix.mu.Unlock()
}

// close flushes pending writes to Bleve and closes both stores.
func (ix *index) close() error {
	err := ix.refresh()
	ix.mu.Lock()
	ix.closed = true
	if cerr := ix.docs.close(); err == nil {
		err = cerr
	}
	ix.mu.Unlock()
	ix.bmu.Lock()
	ix.blClosed = true
	if cerr := ix.bl.Close(); err == nil && cerr != nil {
		err = cerr
	}
	ix.bmu.Unlock()
	return err
}
