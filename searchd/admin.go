package searchd

import (
	"net/http"
	"strconv"
	"strings"
)

func (n *Node) handleCreateIndex(q *req) {
	name := q.segs[0]
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	var settings, mappings map[string]any
	var aliases map[string]any
	for k, v := range body {
		switch k {
		case "settings":
			m, ok := v.(map[string]any)
			if !ok {
				q.fail(errParse("settings must be an object"))
				return
			}
			if settings, e = flattenSettings(m); e != nil {
				q.fail(e)
				return
			}
		case "mappings":
			m, ok := v.(map[string]any)
			if !ok {
				q.fail(errParse("mappings must be an object"))
				return
			}
			mappings = m
		case "aliases":
			m, ok := v.(map[string]any)
			if !ok {
				q.fail(errParse("aliases must be an object"))
				return
			}
			aliases = m
		default:
			q.fail(errParse("unknown key [%s] for create index", k))
			return
		}
	}
	if e := validateIndexName(name); e != nil {
		q.fail(e)
		return
	}
	ix, e := n.createIndexNamed(name, settings, mappings)
	if e != nil {
		q.fail(e)
		return
	}
	if len(aliases) > 0 {
		var acts []aliasAction
		for a, opts := range aliases {
			act := aliasAction{kind: "add", indices: []string{name}, aliases: []string{a}}
			if m, ok := opts.(map[string]any); ok {
				if w, ok := m["is_write_index"].(bool); ok {
					act.isWriteIndex = &w
				}
			}
			acts = append(acts, act)
		}
		if e := n.applyAliasActions(acts); e != nil {
			q.fail(e)
			return
		}
	}
	q.reply(http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": ix.name})
}

func (n *Node) handleIndexExists(q *req) {
	if _, e := n.resolve(q.segs[0]); e != nil {
		q.reply(http.StatusNotFound, nil)
		return
	}
	q.reply(http.StatusOK, nil)
}

func (n *Node) handleDeleteIndex(q *req) {
	ixs, e := n.resolveForDelete(q.segs[0])
	if e != nil {
		q.fail(e)
		return
	}
	for _, ix := range ixs {
		if e := n.deleteIndex(ix); e != nil {
			q.fail(e)
			return
		}
	}
	q.reply(http.StatusOK, map[string]any{"acknowledged": true})
}

// resolveForDelete resolves DELETE /{index}: concrete names and wildcards,
// never aliases (Elasticsearch refuses to delete through an alias).
func (n *Node) resolveForDelete(expr string) ([]*index, *esError) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []*index
	for _, part := range strings.Split(expr, ",") {
		if isPattern(part) {
			for name, ix := range n.indices {
				if matchPattern(part, name) {
					out = append(out, ix)
				}
			}
			continue
		}
		ix := n.indices[part]
		if ix == nil {
			if _, isAlias := n.aliases[part]; isAlias {
				return nil, errIllegalArgument("The provided expression [%s] matches an alias, specify the corresponding concrete indices instead.", part)
			}
			return nil, errIndexNotFound(part)
		}
		out = append(out, ix)
	}
	return out, nil
}

// settingsView renders an index's settings as GET _settings does.
func (n *Node) settingsView(ix *index, flat, defaults bool) map[string]any {
	st := ix.state.Load()
	s := map[string]any{}
	for k, v := range st.meta.Settings {
		s[k] = v
	}
	s["index.creation_date"] = strconv.FormatInt(st.meta.Created, 10)
	s["index.uuid"] = ix.uuid
	s["index.provided_name"] = ix.name
	s["index.version.created"] = "8110099"
	out := map[string]any{}
	if flat {
		out["settings"] = s
	} else {
		out["settings"] = nestSettings(s)
	}
	if defaults {
		d := defaultSettings()
		for k := range d {
			if _, set := s[k]; set {
				delete(d, k)
			}
		}
		if flat {
			out["defaults"] = d
		} else {
			out["defaults"] = nestSettings(d)
		}
	}
	return out
}

func (n *Node) handleGetIndex(q *req) {
	ixs, e := n.resolve(q.segs[0])
	if e != nil {
		q.fail(e)
		return
	}
	out := map[string]any{}
	for _, ix := range ixs {
		v := n.settingsView(ix, q.boolParam("flat_settings"), false)
		v["mappings"] = ix.state.Load().mapping.raw
		v["aliases"] = n.aliasesOf(ix.name)
		out[ix.name] = v
	}
	q.reply(http.StatusOK, out)
}

func (n *Node) handleGetSettings(q *req) {
	expr := "_all"
	if len(q.segs) >= 2 {
		expr = q.segs[0]
	}
	ixs, e := n.resolve(expr)
	if e != nil {
		q.fail(e)
		return
	}
	var filter []string
	if len(q.segs) == 3 {
		filter = strings.Split(q.segs[2], ",")
	}
	flat := q.boolParam("flat_settings")
	out := map[string]any{}
	for _, ix := range ixs {
		v := n.settingsView(ix, true, q.boolParam("include_defaults"))
		if filter != nil {
			for _, key := range []string{"settings", "defaults"} {
				m, _ := v[key].(map[string]any)
				for k := range m {
					keep := false
					for _, f := range filter {
						if matchSettingName(f, k) {
							keep = true
						}
					}
					if !keep {
						delete(m, k)
					}
				}
			}
		}
		if !flat {
			for _, key := range []string{"settings", "defaults"} {
				if m, ok := v[key].(map[string]any); ok {
					v[key] = nestSettings(m)
				}
			}
		}
		out[ix.name] = v
	}
	q.reply(http.StatusOK, out)
}

func matchSettingName(pattern, key string) bool {
	if !strings.HasPrefix(pattern, "index.") && !strings.HasPrefix(pattern, "*") {
		pattern = "index." + pattern
	}
	if strings.HasSuffix(pattern, "*") {
		return strings.HasPrefix(key, strings.TrimSuffix(pattern, "*"))
	}
	return key == pattern
}

func (n *Node) handlePutSettings(q *req) {
	expr := "_all"
	if len(q.segs) == 2 {
		expr = q.segs[0]
	}
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	if body == nil {
		q.fail(errValidation("no settings to update"))
		return
	}
	flat, e := flattenSettings(body)
	if e != nil {
		q.fail(e)
		return
	}
	for k := range flat {
		if staticSettings[k] {
			q.fail(errIllegalArgument("Can't update non dynamic settings [[%s]] for open indices [[%s]]", k, expr))
			return
		}
	}
	ixs, e := n.resolve(expr)
	if e != nil {
		q.fail(e)
		return
	}
	for _, ix := range ixs {
		if e := ix.updateSettings(flat); e != nil {
			q.fail(e)
			return
		}
	}
	q.reply(http.StatusOK, map[string]any{"acknowledged": true})
}

// updateSettings merges flat into the index's settings (nil resets a key).
func (ix *index) updateSettings(flat map[string]any) *esError {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return errIndexNotFound(ix.name)
	}
	meta := ix.state.Load().meta
	s := make(map[string]any, len(meta.Settings)+len(flat))
	for k, v := range meta.Settings {
		s[k] = v
	}
	for k, v := range flat {
		if v == nil {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	meta.Settings = s
	return ix.setState(meta)
}

func (n *Node) handleGetMapping(q *req) {
	expr := "_all"
	if len(q.segs) == 2 {
		expr = q.segs[0]
	}
	ixs, e := n.resolve(expr)
	if e != nil {
		q.fail(e)
		return
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"mappings": ix.state.Load().mapping.raw}
	}
	q.reply(http.StatusOK, out)
}

func (n *Node) handlePutMapping(q *req) {
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	ixs, e := n.resolve(q.segs[0])
	if e != nil {
		q.fail(e)
		return
	}
	for _, ix := range ixs {
		if e := ix.mergeMapping(body); e != nil {
			q.fail(e)
			return
		}
	}
	q.reply(http.StatusOK, map[string]any{"acknowledged": true})
}

// mergeMapping adds new fields to the mapping; changing a field's type is
// refused as in Elasticsearch.
func (ix *index) mergeMapping(body map[string]any) *esError {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return errIndexNotFound(ix.name)
	}
	st := ix.state.Load()
	add, e := parseMapping(body)
	if e != nil {
		return e
	}
	for p, fd := range add.fields {
		if old, ok := st.mapping.fields[p]; ok && old.typ != fd.typ {
			return errIllegalArgument("mapper [%s] cannot be changed from type [%s] to [%s]", p, old.typ, fd.typ)
		}
	}
	raw := deepCopy(st.mapping.raw).(map[string]any)
	mergeMappingRaw(raw, body)
	meta := st.meta
	meta.Mappings = raw
	return ix.setState(meta)
}

func mergeMappingRaw(dst, src map[string]any) {
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			mergeMappingRaw(dm, sm)
			continue
		}
		dst[k] = deepCopy(v)
	}
}

func (n *Node) handleRefresh(q *req) {
	expr := "_all"
	if len(q.segs) == 2 {
		expr = q.segs[0]
	}
	ixs, e := n.resolve(expr)
	if e != nil {
		q.fail(e)
		return
	}
	for _, ix := range ixs {
		if err := ix.refresh(); err != nil {
			q.fail(errInternal(err))
			return
		}
	}
	q.reply(http.StatusOK, map[string]any{"_shards": map[string]any{"total": 2 * len(ixs), "successful": len(ixs), "failed": 0}})
}

// aliasesOf lists the aliases of one index as GET /{index} shows them.
func (n *Node) aliasesOf(name string) map[string]any {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := map[string]any{}
	for a, targets := range n.aliases {
		if t, ok := targets[name]; ok {
			out[a] = aliasBody(t)
		}
	}
	return out
}

func aliasBody(t aliasTarget) map[string]any {
	m := map[string]any{}
	if t.IsWriteIndex != nil {
		m["is_write_index"] = *t.IsWriteIndex
	}
	return m
}
