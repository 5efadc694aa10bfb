package searchd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// docLog is the authoritative store of one index: an append-only file of
// records, each a JSON header line followed, for an index record, by the
// document's source and a newline:
//
//	{"op":"index","id":"7","v":3,"seq":41,"t":1733250000000,"n":57}\n
//	{"title":"…"}\n
//	{"op":"delete","id":"8","v":5,"seq":42,"t":1733250000001}\n
//
// Memory holds only each id's newest version, sequence number and the
// offset of its source in the file, so memory grows with the number of
// documents, not their size. Sources are read back with ReadAt. The file is
// rewritten (compacted) when it is opened and mostly holds superseded
// records. A torn last record (a crash mid-append) is cut off on open.
type docLog struct {
	path    string
	f       *os.File
	size    int64
	entries map[string]*docEntry
	maxSeq  int64 // -1 when empty: the first write gets _seq_no 0
	records int   // records in the file, for the compaction decision
	dirty   bool  // appended since the last Sync
}

// docEntry is the newest state of one id: a live document or a tombstone.
type docEntry struct {
	version   int64
	seqNo     int64
	deleted   bool
	deletedAt int64 // unix ms of the delete, for index.gc_deletes
	off       int64 // source offset in the file
	n         int   // source length
}

type logHeader struct {
	Op  string `json:"op"`
	ID  string `json:"id"`
	V   int64  `json:"v"`
	Seq int64  `json:"seq"`
	T   int64  `json:"t"`
	N   int    `json:"n,omitempty"`
}

const logName = "docs.log"

// openDocLog reads (or creates) the log in dir.
func openDocLog(dir string, log *slog.Logger) (*docLog, error) {
	p := filepath.Join(dir, logName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open document log: %w", err)
	}
	l := &docLog{path: p, f: f, entries: map[string]*docEntry{}, maxSeq: -1}
	good, err := l.load()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat document log: %w", err)
	}
	if st.Size() != good {
		log.Warn("document log has a torn tail; cutting it off", "path", p, "size", st.Size(), "good", good)
		if err := f.Truncate(good); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("truncate document log: %w", err)
		}
	}
	l.size = good
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("seek document log: %w", err)
	}
	return l, nil
}

// load replays the file and returns the length of its complete records.
func (l *docLog) load() (int64, error) {
	r := bufio.NewReaderSize(l.f, 1<<20)
	var off int64
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return off, nil // a partial header line is a torn tail
		}
		if err != nil {
			return 0, fmt.Errorf("read document log: %w", err)
		}
		var h logHeader
		if json.Unmarshal(line, &h) != nil || h.ID == "" {
			return off, nil
		}
		srcOff := off + int64(len(line))
		next := srcOff
		if h.Op == "index" {
			if _, err := r.Discard(h.N); err != nil {
				return off, nil
			}
			nl, err := r.ReadByte()
			if err != nil || nl != '\n' {
				return off, nil
			}
			next += int64(h.N) + 1
		}
		e := &docEntry{version: h.V, seqNo: h.Seq}
		if h.Op == "delete" {
			e.deleted, e.deletedAt = true, h.T
		} else {
			e.off, e.n = srcOff, h.N
		}
		l.entries[h.ID] = e
		l.maxSeq = max(l.maxSeq, h.Seq)
		l.records++
		off = next
	}
}

// appendIndex records a live document.
func (l *docLog) appendIndex(id string, version, seq int64, src []byte, now time.Time) error {
	h, _ := json.Marshal(logHeader{Op: "index", ID: id, V: version, Seq: seq, T: now.UnixMilli(), N: len(src)})
	buf := make([]byte, 0, len(h)+len(src)+2)
	buf = append(append(append(append(buf, h...), '\n'), src...), '\n')
	if err := l.write(buf); err != nil {
		return err
	}
	l.entries[id] = &docEntry{version: version, seqNo: seq, off: l.size - int64(len(src)) - 1, n: len(src)}
	l.maxSeq = max(l.maxSeq, seq)
	return nil
}

// appendDelete records a tombstone.
func (l *docLog) appendDelete(id string, version, seq int64, now time.Time) error {
	h, _ := json.Marshal(logHeader{Op: "delete", ID: id, V: version, Seq: seq, T: now.UnixMilli()})
	if err := l.write(append(h, '\n')); err != nil {
		return err
	}
	l.entries[id] = &docEntry{version: version, seqNo: seq, deleted: true, deletedAt: now.UnixMilli()}
	l.maxSeq = max(l.maxSeq, seq)
	return nil
}

func (l *docLog) write(b []byte) error {
	n, err := l.f.Write(b)
	l.size += int64(n)
	if err != nil {
		// Cut a partial record so the file stays replayable.
		l.size -= int64(n)
		_ = l.f.Truncate(l.size)
		_, _ = l.f.Seek(l.size, io.SeekStart)
		return fmt.Errorf("append to document log: %w", err)
	}
	l.records++
	l.dirty = true
	return nil
}

// source reads e's document source.
func (l *docLog) source(e *docEntry) ([]byte, error) {
	b := make([]byte, e.n)
	if _, err := l.f.ReadAt(b, e.off); err != nil {
		return nil, fmt.Errorf("read document source: %w", err)
	}
	return b, nil
}

// sync makes every appended record durable.
func (l *docLog) sync() error {
	if !l.dirty {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync document log: %w", err)
	}
	l.dirty = false
	return nil
}

func (l *docLog) close() error {
	err := l.sync()
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close document log: %w", cerr)
	}
	return err
}

// dropExpired forgets tombstones deleted before cutoff (unix ms); they no
// longer take part in version checks.
func (l *docLog) dropExpired(cutoff int64) {
	for id, e := range l.entries {
		if e.deleted && e.deletedAt < cutoff {
			delete(l.entries, id)
		}
	}
}

// needsCompaction reports whether most records in the file are superseded.
func (l *docLog) needsCompaction() bool {
	return l.records > 1024 && l.records > 2*len(l.entries)
}

// compact rewrites the file with one record per entry, oldest first, so a
// replay yields the same entries. Expired tombstones must already be dropped.
func (l *docLog) compact() error {
	ids := make([]string, 0, len(l.entries))
	for id := range l.entries {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return l.entries[ids[i]].seqNo < l.entries[ids[j]].seqNo })
	tmpPath := l.path + ".compact"
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("compact document log: %w", err)
	}
	nl := &docLog{path: l.path, f: tmp, entries: make(map[string]*docEntry, len(ids))}
	fail := func(err error) error {
		_ = tmp.Close()
		_ = os.Remove(tmpPath)
		return fmt.Errorf("compact document log: %w", err)
	}
	for _, id := range ids {
		e := l.entries[id]
		if e.deleted {
			h, _ := json.Marshal(logHeader{Op: "delete", ID: id, V: e.version, Seq: e.seqNo, T: e.deletedAt})
			if err := nl.write(append(h, '\n')); err != nil {
				return fail(err)
			}
			nl.entries[id] = e
			continue
		}
		src, err := l.source(e)
		if err != nil {
			return fail(err)
		}
		if err := nl.appendIndex(id, e.version, e.seqNo, src, time.UnixMilli(0)); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpPath, l.path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		return fail(err)
	}
	_ = l.f.Close()
	nl.maxSeq = l.maxSeq
	nl.dirty = false
	*l = *nl
	return nil
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileAtomic replaces path with data: write a temporary file, sync,
// rename, sync the directory. A reader sees the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
