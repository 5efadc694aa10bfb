package searchd

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// aliasAction is one add or remove of POST /_aliases.
type aliasAction struct {
	kind         string // add, remove
	indices      []string
	aliases      []string
	isWriteIndex *bool
	mustExist    *bool
}

func (n *Node) handleAliasActions(q *req) {
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	raw, ok := body["actions"].([]any)
	if !ok || len(raw) == 0 {
		q.fail(errValidation("no alias actions specified"))
		return
	}
	acts := make([]aliasAction, 0, len(raw))
	for _, r := range raw {
		act, e := parseAliasAction(r)
		if e != nil {
			q.fail(e)
			return
		}
		acts = append(acts, act)
	}
	if e := n.applyAliasActions(acts); e != nil {
		q.fail(e)
		return
	}
	q.reply(http.StatusOK, map[string]any{"acknowledged": true})
}

func parseAliasAction(r any) (aliasAction, *esError) {
	m, ok := r.(map[string]any)
	if !ok || len(m) != 1 {
		return aliasAction{}, errParse("an alias action must be an object with one key: add, remove or remove_index")
	}
	var act aliasAction
	for kind, v := range m {
		switch kind {
		case "add", "remove":
		case "remove_index":
			return act, errUnsupported("_aliases.actions.remove_index")
		default:
			return act, errParsing("Unknown field [%s]", kind)
		}
		act.kind = kind
		spec, ok := v.(map[string]any)
		if !ok {
			return act, errParse("[%s] must be an object", kind)
		}
		for k, sv := range spec {
			switch k {
			case "index", "alias":
				s, ok := sv.(string)
				if !ok {
					return act, errParse("[%s] must be a string", k)
				}
				if k == "index" {
					act.indices = append(act.indices, s)
				} else {
					act.aliases = append(act.aliases, s)
				}
			case "indices", "aliases":
				list, ok := sv.([]any)
				if !ok {
					return act, errParse("[%s] must be an array", k)
				}
				for _, e := range list {
					s, ok := e.(string)
					if !ok {
						return act, errParse("[%s] must hold strings", k)
					}
					if k == "indices" {
						act.indices = append(act.indices, s)
					} else {
						act.aliases = append(act.aliases, s)
					}
				}
			case "is_write_index":
				b, ok := sv.(bool)
				if !ok {
					return act, errParse("[is_write_index] must be a boolean")
				}
				act.isWriteIndex = &b
			case "must_exist":
				b, ok := sv.(bool)
				if !ok {
					return act, errParse("[must_exist] must be a boolean")
				}
				act.mustExist = &b
			case "filter", "routing", "index_routing", "search_routing", "is_hidden":
				return act, errUnsupported("_aliases.actions." + kind + "." + k)
			default:
				return act, errParsing("[%s] unknown field [%s]", kind, k)
			}
		}
	}
	switch {
	case len(act.indices) == 0:
		return act, errValidation("One of [index] or [indices] is required")
	case len(act.aliases) == 0:
		return act, errValidation("One of [alias] or [aliases] is required")
	}
	return act, nil
}

// applyAliasActions applies every action or none, then persists the table.
func (n *Node) applyAliasActions(acts []aliasAction) *esError {
	n.adminMu.Lock()
	defer n.adminMu.Unlock()
	n.mu.Lock()
	next := make(map[string]map[string]aliasTarget, len(n.aliases))
	for a, ts := range n.aliases {
		c := make(map[string]aliasTarget, len(ts))
		for k, v := range ts {
			c[k] = v
		}
		next[a] = c
	}
	for _, act := range acts {
		if e := n.applyAliasAction(next, act); e != nil {
			n.mu.Unlock()
			return e
		}
	}
	for a, ts := range next {
		writers := 0
		for _, t := range ts {
			if t.IsWriteIndex != nil && *t.IsWriteIndex {
				writers++
			}
		}
		if writers > 1 {
			n.mu.Unlock()
			return errIllegalArgument("alias [%s] has more than one write index", a)
		}
	}
	old := n.aliases
	n.aliases = next
	n.mu.Unlock()
	if err := n.saveAliases(); err != nil {
		n.mu.Lock()
		n.aliases = old
		n.mu.Unlock()
		return errInternal(fmt.Errorf("save aliases: %w", err))
	}
	return nil
}

// applyAliasAction applies one action to table. Caller holds n.mu.
func (n *Node) applyAliasAction(table map[string]map[string]aliasTarget, act aliasAction) *esError {
	var names []string
	for _, expr := range act.indices {
		if isPattern(expr) {
			for name := range n.indices {
				if matchPattern(expr, name) {
					names = append(names, name)
				}
			}
			continue
		}
		if n.indices[expr] == nil {
			return errIndexNotFound(expr)
		}
		names = append(names, expr)
	}
	if len(names) == 0 {
		return errIndexNotFound(strings.Join(act.indices, ","))
	}
	for _, a := range act.aliases {
		if act.kind == "add" {
			if e := validateIndexName(a); e != nil {
				return &esError{status: 400, typ: "invalid_alias_name_exception", reason: strings.Replace(e.reason, "Invalid index name", "Invalid alias name", 1)}
			}
			if n.indices[a] != nil {
				return &esError{status: 400, typ: "invalid_alias_name_exception",
					reason: fmt.Sprintf("Invalid alias name [%s]: an index or data stream exists with the same name as the alias", a)}
			}
			if table[a] == nil {
				table[a] = map[string]aliasTarget{}
			}
			for _, name := range names {
				table[a][name] = aliasTarget{IsWriteIndex: act.isWriteIndex}
			}
			continue
		}
		removed := false
		for alias, ts := range table {
			if alias != a && (!isPattern(a) || !matchPattern(a, alias)) {
				continue
			}
			for _, name := range names {
				if _, ok := ts[name]; ok {
					delete(ts, name)
					removed = true
				}
			}
			if len(ts) == 0 {
				delete(table, alias)
			}
		}
		if !removed && (act.mustExist == nil || *act.mustExist) {
			return &esError{status: http.StatusNotFound, typ: "aliases_not_found_exception", reason: "aliases [" + a + "] missing",
				extra: map[string]any{"resource.type": "aliases", "resource.id": a}}
		}
	}
	return nil
}

func (n *Node) handlePutAlias(q *req) {
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	act := aliasAction{kind: "add", indices: []string{q.segs[0]}, aliases: []string{q.segs[2]}}
	if w, ok := body["is_write_index"].(bool); ok {
		act.isWriteIndex = &w
	}
	if e := n.applyAliasActions([]aliasAction{act}); e != nil {
		q.fail(e)
		return
	}
	q.reply(http.StatusOK, map[string]any{"acknowledged": true})
}

func (n *Node) handleDeleteAlias(q *req) {
	act := aliasAction{kind: "remove", indices: []string{q.segs[0]}, aliases: []string{q.segs[2]}}
	if e := n.applyAliasActions([]aliasAction{act}); e != nil {
		q.fail(e)
		return
	}
	q.reply(http.StatusOK, map[string]any{"acknowledged": true})
}

// handleGetAlias serves GET /_alias, /_alias/{name}, /{index}/_alias and
// /{index}/_alias/{name}.
func (n *Node) handleGetAlias(q *req) {
	indexExpr, aliasExpr := "", ""
	switch q.segs[0] {
	case "_alias", "_aliases":
		if len(q.segs) == 2 {
			aliasExpr = q.segs[1]
		}
	default:
		indexExpr = q.segs[0]
		if len(q.segs) == 3 {
			aliasExpr = q.segs[2]
		}
	}
	var ixs []*index
	if indexExpr != "" {
		var e *esError
		if ixs, e = n.resolve(indexExpr); e != nil {
			q.fail(e)
			return
		}
	} else {
		ixs = n.snapshot()
	}
	want := map[string]bool{}
	for _, ix := range ixs {
		want[ix.name] = true
	}
	n.mu.RLock()
	out := map[string]any{}
	found := map[string]bool{}
	var patterns []string
	if aliasExpr != "" && aliasExpr != "_all" && aliasExpr != "*" {
		patterns = strings.Split(aliasExpr, ",")
	}
	for a, ts := range n.aliases {
		match := patterns == nil
		for _, p := range patterns {
			if p == a || isPattern(p) && matchPattern(p, a) {
				match = true
				found[p] = true
			}
		}
		if !match {
			continue
		}
		for name, t := range ts {
			if !want[name] {
				continue
			}
			entry, ok := out[name].(map[string]any)
			if !ok {
				entry = map[string]any{"aliases": map[string]any{}}
				out[name] = entry
			}
			entry["aliases"].(map[string]any)[a] = aliasBody(t)
		}
	}
	n.mu.RUnlock()
	if patterns == nil {
		for _, ix := range ixs { // every index is listed, with or without aliases
			if _, ok := out[ix.name]; !ok {
				out[ix.name] = map[string]any{"aliases": map[string]any{}}
			}
		}
		q.reply(http.StatusOK, out)
		return
	}
	var missing []string
	for _, p := range patterns {
		if !found[p] && !isPattern(p) {
			missing = append(missing, p)
		}
	}
	// Found names in the wrong index count as missing too.
	for _, p := range patterns {
		if found[p] && !isPattern(p) && !aliasListed(out, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		out["error"] = fmt.Sprintf("alias [%s] missing", strings.Join(missing, ","))
		out["status"] = http.StatusNotFound
		q.reply(http.StatusNotFound, out)
		return
	}
	q.reply(http.StatusOK, out)
}

func aliasListed(out map[string]any, alias string) bool {
	for _, v := range out {
		if m, ok := v.(map[string]any); ok {
			if as, ok := m["aliases"].(map[string]any); ok {
				if _, ok := as[alias]; ok {
					return true
				}
			}
		}
	}
	return false
}
