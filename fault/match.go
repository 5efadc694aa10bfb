package fault

import (
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
)

// Match narrows a fault to some requests or bulk items (FAULT_MATCH:
// `key=v1,v2;key2=v3`). An empty Match matches everything; within a key any
// value matches; all given keys must match.
type Match struct {
	// Method matches the HTTP method (case-insensitive).
	Method []string
	// Path matches a path segment (`_bulk` matches /_bulk and /idx/_bulk),
	// or, for a value starting with "/", the whole path as a glob (/idx-*/_doc/*).
	Path []string
	// Op matches a bulk item's action: index, create, update, delete, or
	// upsert (any of index, create, update). A document request counts as
	// the op it performs.
	Op []string
	// Index matches the target index as a glob (firedrill-*).
	Index []string
	// Projection matches indexes of a projection: the index is the
	// projection's name or ends with "-" + it (firedrill-search, run1-search).
	Projection []string
}

// MatchKeys lists the keys of FAULT_MATCH.
var MatchKeys = []string{"method", "path", "op", "index", "projection"}

var matchOps = []string{"index", "create", "update", "delete", "upsert"}

// ParseMatch parses `key=v1,v2;key2=v3`.
func ParseMatch(s string) (Match, error) {
	var m Match
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, vals, ok := strings.Cut(part, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !ok {
			return m, fmt.Errorf("%q is not key=value; keys: %s (e.g. path=_bulk;op=upsert,delete)", part, strings.Join(MatchKeys, ", "))
		}
		if seen[key] {
			return m, fmt.Errorf("key %q given twice; list its values once, comma-separated", key)
		}
		seen[key] = true
		var list []string
		for _, v := range strings.Split(vals, ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				return m, fmt.Errorf("key %q has an empty value; give one or more comma-separated values", key)
			}
			list = append(list, v)
		}
		switch key {
		case "method":
			for i, v := range list {
				list[i] = strings.ToUpper(v)
				if !slices.Contains([]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}, list[i]) {
					return m, fmt.Errorf("method %q is not one of GET, HEAD, POST, PUT, DELETE, PATCH", v)
				}
			}
			m.Method = list
		case "path":
			for _, v := range list {
				if _, err := path.Match(v, ""); err != nil {
					return m, fmt.Errorf("path %q is not a valid glob", v)
				}
			}
			m.Path = list
		case "op":
			for i, v := range list {
				list[i] = strings.ToLower(v)
				if !slices.Contains(matchOps, list[i]) {
					return m, fmt.Errorf("op %q is not one of %s", v, strings.Join(matchOps, ", "))
				}
			}
			m.Op = list
		case "index":
			for _, v := range list {
				if _, err := path.Match(v, ""); err != nil {
					return m, fmt.Errorf("index %q is not a valid glob", v)
				}
			}
			m.Index = list
		case "projection":
			m.Projection = list
		default:
			return m, fmt.Errorf("unknown key %q; keys: %s", key, strings.Join(MatchKeys, ", "))
		}
	}
	return m, nil
}

// String writes m back in FAULT_MATCH form.
func (m Match) String() string {
	var parts []string
	add := func(k string, vs []string) {
		if len(vs) > 0 {
			parts = append(parts, k+"="+strings.Join(vs, ","))
		}
	}
	add("method", m.Method)
	add("path", m.Path)
	add("op", m.Op)
	add("index", m.Index)
	add("projection", m.Projection)
	return strings.Join(parts, ";")
}

// HasItemKeys reports whether m narrows by op, index or projection.
func (m Match) HasItemKeys() bool {
	return len(m.Op) > 0 || len(m.Index) > 0 || len(m.Projection) > 0
}

// Request reports whether a request's method and path match.
func (m Match) Request(method, urlPath string) bool {
	if len(m.Method) > 0 && !slices.Contains(m.Method, strings.ToUpper(method)) {
		return false
	}
	if len(m.Path) == 0 {
		return true
	}
	segs := strings.Split(strings.Trim(urlPath, "/"), "/")
	for _, p := range m.Path {
		if strings.HasPrefix(p, "/") {
			if ok, _ := path.Match(p, urlPath); ok {
				return true
			}
			continue
		}
		if slices.Contains(segs, p) {
			return true
		}
	}
	return false
}

// Item reports whether a bulk item (or a document request) with action op
// on index matches the op, index and projection keys.
func (m Match) Item(op, index string) bool {
	if len(m.Op) > 0 && !slices.ContainsFunc(m.Op, func(want string) bool {
		return want == op || (want == "upsert" && (op == "index" || op == "create" || op == "update"))
	}) {
		return false
	}
	if len(m.Index) > 0 && !slices.ContainsFunc(m.Index, func(g string) bool {
		ok, _ := path.Match(g, index)
		return ok
	}) {
		return false
	}
	if len(m.Projection) > 0 && !slices.ContainsFunc(m.Projection, func(p string) bool {
		return index == p || strings.HasSuffix(index, "-"+p)
	}) {
		return false
	}
	return true
}
