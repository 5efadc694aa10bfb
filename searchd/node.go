// Package searchd is an embedded single-node search engine that speaks the
// subset of the Elasticsearch REST API firedrill uses, with Elasticsearch's
// status codes, JSON shapes and external-versioning semantics, on Bleve.
// Each index keeps an append-only document log (versions, tombstones and
// sources: the truth) beside a Bleve index (what search sees after a
// refresh). See docs/searchd.md.
package searchd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config configures a Node.
type Config struct {
	// DataDir holds every index, its documents, versions, tombstones,
	// settings and the aliases. Required; created when missing.
	DataDir string
	// Logger receives warnings and lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// Validate reports a config Open cannot use.
func (c Config) Validate() error {
	if strings.TrimSpace(c.DataDir) == "" {
		return errors.New("data dir is required")
	}
	return nil
}

// Node is an embedded single-node search engine speaking a subset of the
// Elasticsearch REST API. It is safe for concurrent use.
type Node struct {
	dir      string
	log      *slog.Logger
	info     nodeInfo
	unlock   func()
	handler  http.Handler
	stopLoop context.CancelFunc
	loopDone chan struct{}

	adminMu sync.Mutex   // serialises index create/delete and alias changes
	mu      sync.RWMutex // guards indices, aliases, closed
	indices map[string]*index
	aliases map[string]map[string]aliasTarget // alias → index → options
	closed  bool
}

// aliasTarget is one index of an alias.
type aliasTarget struct {
	IsWriteIndex *bool `json:"is_write_index,omitempty"`
}

// nodeInfo is node.json: identities that stay stable across restarts.
type nodeInfo struct {
	Name        string `json:"name"`
	NodeUUID    string `json:"node_uuid"`
	ClusterUUID string `json:"cluster_uuid"`
}

// Layout of DataDir.
const (
	nodeFile    = "node.json"
	aliasesFile = "aliases.json"
	lockFile    = "LOCK"
	indicesDir  = "indices"
	trashPrefix = "trash-"
)

// ErrDataDirInUse is returned by Open when another Node holds DataDir.
var ErrDataDirInUse = errors.New("data dir is in use by another searchd")

// Open opens or creates the node in cfg.DataDir and starts its periodic
// refresh. Close it to release the directory.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("searchd: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir := cfg.DataDir
	if err := os.MkdirAll(filepath.Join(dir, indicesDir), 0o755); err != nil {
		return nil, fmt.Errorf("searchd: data dir: %w", err)
	}
	unlock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("searchd: %s: %w", dir, err)
	}
	n := &Node{dir: dir, log: log, unlock: unlock, indices: map[string]*index{}, aliases: map[string]map[string]aliasTarget{}}
	if err := n.load(); err != nil {
		_ = n.closeIndices()
		unlock()
		return nil, fmt.Errorf("searchd: %w", err)
	}
	n.handler = n.routes()
	ctx, cancel := context.WithCancel(context.Background())
	n.stopLoop, n.loopDone = cancel, make(chan struct{})
	go n.loop(ctx)
	log.Info("searchd node opened", "data_dir", dir, "indices", len(n.indices), "aliases", len(n.aliases))
	return n, nil
}

func (n *Node) load() error {
	b, err := os.ReadFile(filepath.Join(n.dir, nodeFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		host, _ := os.Hostname()
		n.info = nodeInfo{Name: "searchd-" + host, NodeUUID: newID(), ClusterUUID: newID()}
		nb, _ := json.MarshalIndent(n.info, "", "  ")
		if err := writeFileAtomic(filepath.Join(n.dir, nodeFile), nb); err != nil {
			return fmt.Errorf("write %s: %w", nodeFile, err)
		}
	case err != nil:
		return fmt.Errorf("read %s: %w", nodeFile, err)
	default:
		if err := json.Unmarshal(b, &n.info); err != nil {
			return fmt.Errorf("parse %s: %w", nodeFile, err)
		}
	}
	root := filepath.Join(n.dir, indicesDir)
	ents, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list indices: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(root, e.Name())
		if !e.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), trashPrefix) {
			_ = os.RemoveAll(p) // a delete that did not finish
			continue
		}
		if _, err := os.Stat(filepath.Join(p, metaFile)); errors.Is(err, os.ErrNotExist) {
			n.log.Warn("removing an index directory whose creation did not finish", "dir", p)
			_ = os.RemoveAll(p)
			continue
		}
		ix, err := openIndex(p, n.log)
		if err != nil {
			return err
		}
		n.indices[ix.name] = ix
	}
	b, err = os.ReadFile(filepath.Join(n.dir, aliasesFile))
	if err == nil {
		if err := json.Unmarshal(b, &n.aliases); err != nil {
			return fmt.Errorf("parse %s: %w", aliasesFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", aliasesFile, err)
	}
	for a, targets := range n.aliases {
		for name := range targets {
			if n.indices[name] == nil {
				delete(targets, name)
			}
		}
		if len(targets) == 0 {
			delete(n.aliases, a)
		}
	}
	return nil
}

// Handler returns the REST API.
func (n *Node) Handler() http.Handler { return n.handler }

// Close stops the periodic refresh, applies pending writes to the search
// indexes and closes every index. Acknowledged writes were durable before
// Close; Close makes reopening fast.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.stopLoop()
	<-n.loopDone
	n.adminMu.Lock()
	defer n.adminMu.Unlock()
	err := n.closeIndices()
	n.unlock()
	n.log.Info("searchd node closed", "data_dir", n.dir)
	return err
}

func (n *Node) closeIndices() error {
	var errs []error
	for _, ix := range n.indices {
		if err := ix.close(); err != nil {
			errs = append(errs, fmt.Errorf("close index %s: %w", ix.name, err))
		}
	}
	return errors.Join(errs...)
}

// loop runs the periodic refresh (index.refresh_interval) and forgets
// expired tombstones (index.gc_deletes).
func (n *Node) loop(ctx context.Context) {
	defer close(n.loopDone)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			sweep := now.Sub(lastSweep) > 10*time.Second
			if sweep {
				lastSweep = now
			}
			for _, ix := range n.snapshot() {
				st := ix.state.Load()
				if iv := st.set.refreshInterval; iv > 0 && now.UnixNano()-ix.lastRefresh.Load() >= int64(iv) && ix.hasPending() {
					if err := ix.refresh(); err != nil {
						n.log.Warn("periodic refresh failed", "index", ix.name, "error", err.Error())
					}
				}
				if sweep {
					ix.mu.Lock()
					if !ix.closed {
						ix.docs.dropExpired(now.Add(-st.set.gcDeletes).UnixMilli())
					}
					ix.mu.Unlock()
				}
			}
		}
	}
}

func (ix *index) hasPending() bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.pending) > 0 && !ix.closed
}

func (n *Node) snapshot() []*index {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*index, 0, len(n.indices))
	for _, ix := range n.indices {
		out = append(out, ix)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// newID returns a 20-character URL-safe random id, the shape of
// Elasticsearch's generated ids and UUIDs.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// createIndexNamed creates an index; body settings/mappings may be nil.
func (n *Node) createIndexNamed(name string, settings, mappings map[string]any) (*index, *esError) {
	if e := validateIndexName(name); e != nil {
		return nil, e
	}
	n.adminMu.Lock()
	defer n.adminMu.Unlock()
	n.mu.RLock()
	existing, closed := n.indices[name], n.closed
	_, isAlias := n.aliases[name]
	n.mu.RUnlock()
	switch {
	case closed:
		return nil, errInternal(errors.New("node is closed"))
	case existing != nil:
		return nil, errIndexExists(name, existing.uuid)
	case isAlias:
		return nil, errInvalidIndexName(name, "already exists as alias")
	}
	flat := map[string]any{"index.number_of_shards": "1", "index.number_of_replicas": "1"}
	for k, v := range settings {
		if v != nil {
			flat[k] = v
		}
	}
	meta := indexMeta{Name: name, UUID: newID(), Created: time.Now().UnixMilli(), Settings: flat, Mappings: mappings}
	if _, e := newState(meta); e != nil {
		return nil, e
	}
	ix, err := createIndex(filepath.Join(n.dir, indicesDir, meta.UUID), meta, n.log)
	if err != nil {
		return nil, errInternal(err)
	}
	n.mu.Lock()
	n.indices[name] = ix
	n.mu.Unlock()
	n.log.Info("index created", "index", name, "uuid", meta.UUID)
	return ix, nil
}

// deleteIndex removes an index, its files and its aliases.
func (n *Node) deleteIndex(ix *index) *esError {
	n.adminMu.Lock()
	defer n.adminMu.Unlock()
	n.mu.Lock()
	if n.indices[ix.name] != ix {
		n.mu.Unlock()
		return errIndexNotFound(ix.name)
	}
	delete(n.indices, ix.name)
	changed := false
	for a, targets := range n.aliases {
		if _, ok := targets[ix.name]; ok {
			delete(targets, ix.name)
			changed = true
			if len(targets) == 0 {
				delete(n.aliases, a)
			}
		}
	}
	n.mu.Unlock()
	if changed {
		if err := n.saveAliases(); err != nil {
			n.log.Warn("saving aliases after index delete failed", "index", ix.name, "error", err.Error())
		}
	}
	// Rename first: a crash mid-removal leaves a trash dir, not half an index.
	trash := filepath.Join(n.dir, indicesDir, trashPrefix+ix.uuid)
	ix.refreshMu.Lock()
	ix.mu.Lock()
	ix.closed = true
	ix.pending = map[string]struct{}{}
	_ = ix.docs.close()
	ix.mu.Unlock()
	ix.refreshMu.Unlock()
	ix.bmu.Lock()
	ix.blClosed = true
	_ = ix.bl.Close()
	ix.bmu.Unlock()
	if err := os.Rename(ix.dir, trash); err != nil {
		n.log.Warn("moving deleted index to trash failed", "index", ix.name, "error", err.Error())
		trash = ix.dir
	}
	if err := os.RemoveAll(trash); err != nil {
		n.log.Warn("removing deleted index files failed", "index", ix.name, "error", err.Error())
	}
	n.log.Info("index deleted", "index", ix.name, "uuid", ix.uuid)
	return nil
}

// saveAliases persists the alias table. Caller holds adminMu.
func (n *Node) saveAliases() error {
	n.mu.RLock()
	b, err := json.MarshalIndent(n.aliases, "", "  ")
	n.mu.RUnlock()
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(n.dir, aliasesFile), b)
}

// resolve expands an index expression (names, aliases, wildcards, comma
// lists, _all) to concrete indices. A missing concrete name is a 404.
func (n *Node) resolve(expr string) ([]*index, *esError) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if expr == "" {
		expr = "_all"
	}
	seen := map[string]bool{}
	var out []*index
	add := func(name string) {
		if ix := n.indices[name]; ix != nil && !seen[name] {
			seen[name] = true
			out = append(out, ix)
		}
	}
	for _, part := range strings.Split(expr, ",") {
		switch {
		case isPattern(part):
			for name := range n.indices {
				if matchPattern(part, name) {
					add(name)
				}
			}
			for a, targets := range n.aliases {
				if matchPattern(part, a) {
					for name := range targets {
						add(name)
					}
				}
			}
		case n.indices[part] != nil:
			add(part)
		case n.aliases[part] != nil:
			for name := range n.aliases[part] {
				add(name)
			}
		default:
			return nil, errIndexNotFound(part)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// resolveOne resolves a name that must denote exactly one index (GET of a
// document, or a write). forWrite applies the write-index rules.
func (n *Node) resolveOne(name string, forWrite bool) (*index, *esError) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if ix := n.indices[name]; ix != nil {
		return ix, nil
	}
	targets := n.aliases[name]
	if targets == nil {
		return nil, errIndexNotFound(name)
	}
	if forWrite {
		for t, opt := range targets {
			if opt.IsWriteIndex != nil && *opt.IsWriteIndex {
				return n.indices[t], nil
			}
		}
	}
	if len(targets) == 1 {
		for t, opt := range targets {
			if forWrite && opt.IsWriteIndex != nil && !*opt.IsWriteIndex {
				break
			}
			return n.indices[t], nil
		}
	}
	if forWrite {
		return nil, errIllegalArgument("no write index is defined for alias [%s]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index", name)
	}
	names := make([]string, 0, len(targets))
	for t := range targets {
		names = append(names, t)
	}
	sort.Strings(names)
	return nil, errIllegalArgument("alias [%s] has more than one index associated with it [%s], can't execute a single index op", name, strings.Join(names, ", "))
}

// writeTarget resolves the index a write goes to, creating it when it does
// not exist (action.auto_create_index=true).
func (n *Node) writeTarget(name string, create bool) (*index, *esError) {
	ix, e := n.resolveOne(name, true)
	if e == nil || e.typ != "index_not_found_exception" || !create {
		return ix, e
	}
	ix, e = n.createIndexNamed(name, nil, nil)
	if e != nil && e.typ == "resource_already_exists_exception" {
		return n.resolveOne(name, true) // lost a race with another create
	}
	return ix, e
}
