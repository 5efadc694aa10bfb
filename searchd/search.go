package searchd

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// unsupportedSearchKeys are search body keys Elasticsearch knows and
// searchd does not implement.
var unsupportedSearchKeys = map[string]bool{
	"aggs": true, "aggregations": true, "highlight": true, "search_after": true, "collapse": true,
	"post_filter": true, "suggest": true, "explain": true, "stored_fields": true, "docvalue_fields": true,
	"fields": true, "script_fields": true, "rescore": true, "pit": true, "runtime_mappings": true,
	"indices_boost": true, "profile": true, "knn": true, "min_score": true, "terminate_after": true,
	"slice": true, "ext": true, "rank": true, "retriever": true,
}

// searchRequest is a parsed _search body plus URL parameters.
type searchRequest struct {
	q           query.Query
	size, from  int
	sort        []sortSpec
	source      bool
	trackTotal  int // hits counted exactly up to this; <0: all; 0: none
	version     bool
	seqNo       bool
	totalAsInt  bool
	sortByScore bool
}

// sortSpec is one sort key.
type sortSpec struct {
	field string // _score, _id, _doc or a field
	desc  bool
	first bool // missing values first
	fd    *fieldDef
}

func (n *Node) handleSearch(q *req) {
	expr := ""
	if len(q.segs) == 2 {
		expr = q.segs[0]
	}
	ixs, e := n.resolve(expr)
	if e != nil {
		q.fail(e)
		return
	}
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	sr, e := parseSearch(q, body, newQueryCompiler(ixs))
	if e != nil {
		q.fail(e)
		return
	}
	window := defaultMaxResultWindow
	for _, ix := range ixs {
		window = min(window, ix.state.Load().set.maxResultWindow)
	}
	if sr.from+sr.size > window {
		q.fail(errIllegalArgument("Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.", window, sr.from+sr.size))
		return
	}
	res, e := runSearch(q.r.Context(), ixs, sr)
	if e != nil {
		q.fail(e)
		return
	}
	q.reply(http.StatusOK, renderSearch(q, ixs, sr, res))
}

func parseSearch(q *req, body map[string]any, c *queryCompiler) (*searchRequest, *esError) {
	sr := &searchRequest{q: query.NewMatchAllQuery(), size: 10, source: true, trackTotal: 10000}
	var e *esError
	for k, v := range body {
		switch k {
		case "query":
			if sr.q, e = c.compile(v); e != nil {
				return nil, e
			}
		case "size", "from":
			n, ok := intValue(v)
			if !ok || n < 0 {
				return nil, errIllegalArgument("[%s] parameter cannot be negative, found [%v]", k, v)
			}
			if k == "size" {
				sr.size = n
			} else {
				sr.from = n
			}
		case "sort":
			if sr.sort, e = parseSort(v, c); e != nil {
				return nil, e
			}
		case "_source":
			b, ok := v.(bool)
			if !ok {
				return nil, errUnsupported("_source filtering")
			}
			sr.source = b
		case "track_total_hits":
			switch t := v.(type) {
			case bool:
				sr.trackTotal = map[bool]int{true: -1, false: 0}[t]
			default:
				n, ok := intValue(v)
				if !ok {
					return nil, errParsing("[track_total_hits] must be a boolean or an integer")
				}
				sr.trackTotal = n
			}
		case "version":
			sr.version, _ = v.(bool)
		case "seq_no_primary_term":
			sr.seqNo, _ = v.(bool)
		case "timeout", "track_scores", "batched_reduce_size":
		default:
			if unsupportedSearchKeys[k] {
				return nil, errUnsupported("_search." + k)
			}
			return nil, errParsing("Unknown key for a START_OBJECT in [%s].", k)
		}
	}
	for _, p := range []string{"size", "from"} {
		if q.q.Has(p) {
			n, e := intParam(q, p, 0)
			if e != nil {
				return nil, e
			}
			if p == "size" {
				sr.size = n
			} else {
				sr.from = n
			}
		}
	}
	if s := q.q.Get("sort"); s != "" {
		var list []any
		for _, part := range strings.Split(s, ",") {
			f, dir, _ := strings.Cut(part, ":")
			if dir == "" {
				list = append(list, f)
			} else {
				list = append(list, map[string]any{f: dir})
			}
		}
		if sr.sort, e = parseSort(list, c); e != nil {
			return nil, e
		}
	}
	if q.q.Get("_source") == "false" {
		sr.source = false
	}
	if q.q.Has("q") {
		return nil, errUnsupported("_search?q (query string syntax)")
	}
	if q.boolParam("rest_total_hits_as_int") {
		sr.totalAsInt, sr.trackTotal = true, -1
	}
	if v := q.q.Get("track_total_hits"); v != "" {
		switch v {
		case "true":
			sr.trackTotal = -1
		case "false":
			sr.trackTotal = 0
		default:
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, errIllegalArgument("Failed to parse track_total_hits [%s]", v)
			}
			sr.trackTotal = n
		}
	}
	sr.sortByScore = len(sr.sort) == 0
	for _, s := range sr.sort {
		if s.field == "_score" {
			sr.sortByScore = true
		}
	}
	return sr, nil
}

func intValue(v any) (int, bool) {
	switch t := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(t.String())
		return n, err == nil
	case string:
		n, err := strconv.Atoi(t)
		return n, err == nil
	}
	return 0, false
}

// parseSort reads "f", {"f":"desc"}, {"f":{"order":..,"missing":..}} or a
// list of them.
func parseSort(v any, c *queryCompiler) ([]sortSpec, *esError) {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := make([]sortSpec, 0, len(list))
	for _, item := range list {
		var s sortSpec
		switch t := item.(type) {
		case string:
			s.field = t
			s.desc = t == "_score"
		case map[string]any:
			if len(t) != 1 {
				return nil, errParsing("[sort] entry must have exactly one field")
			}
			for f, opt := range t {
				s.field = f
				s.desc = f == "_score"
				switch o := opt.(type) {
				case string:
					s.desc = strings.EqualFold(o, "desc")
				case map[string]any:
					for k, ov := range o {
						switch k {
						case "order":
							s.desc = strings.EqualFold(scalarString(ov), "desc")
						case "missing":
							s.first = scalarString(ov) == "_first"
							if m := scalarString(ov); m != "_first" && m != "_last" {
								return nil, errUnsupported("sort.missing with a value")
							}
						case "unmapped_type", "format", "mode":
						default:
							return nil, errUnsupported("sort." + k)
						}
					}
				default:
					return nil, errParsing("[sort] malformed entry for [%s]", f)
				}
				if o, ok := opt.(map[string]any); ok {
					if _, hasUnmapped := o["unmapped_type"]; hasUnmapped && c.fields[f] == nil {
						s.field = "" // sorts nothing: every hit is missing the field
					}
				}
			}
		default:
			return nil, errParsing("[sort] malformed entry")
		}
		switch s.field {
		case "":
			continue
		case "_score", "_id", "_doc":
		default:
			fd := c.fields[s.field]
			switch {
			case fd == nil:
				return nil, errQueryShard(c.index, "No mapping found for [%s] in order to sort on", s.field)
			case fd.family == famText:
				return nil, errIllegalArgument("Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. Note that this can use significant memory.", s.field)
			case fd.family == famNone || !fd.indexed:
				return nil, errUnsupported("sort on a " + fd.typ + " field")
			}
			s.fd = fd
		}
		out = append(out, s)
	}
	return out, nil
}

func bleveSort(specs []sortSpec) search.SortOrder {
	var out search.SortOrder
	for _, s := range specs {
		switch s.field {
		case "_score":
			out = append(out, &search.SortScore{Desc: s.desc})
		case "_id", "_doc":
			out = append(out, &search.SortDocID{Desc: s.desc})
		default:
			sf := &search.SortField{Field: s.field, Desc: s.desc, Missing: search.SortFieldMissingLast, Mode: search.SortFieldMin}
			if s.desc {
				sf.Mode = search.SortFieldMax
			}
			if s.first {
				sf.Missing = search.SortFieldMissingFirst
			}
			switch s.fd.family {
			case famLong, famDouble, famBool:
				sf.Type = search.SortFieldAsNumber
			case famDate:
				sf.Type = search.SortFieldAsDate
			default:
				sf.Type = search.SortFieldAsString
			}
			if s.fd.family == famBool {
				sf.Type = search.SortFieldAsString
			}
			out = append(out, sf)
		}
	}
	return out
}

// runSearch searches the indices' refreshed state.
func runSearch(ctx context.Context, ixs []*index, sr *searchRequest) (*bleve.SearchResult, *esError) {
	if len(ixs) == 0 {
		return &bleve.SearchResult{}, nil
	}
	bls := make([]bleve.Index, 0, len(ixs))
	for _, ix := range ixs {
		ix.bmu.RLock()
		defer ix.bmu.RUnlock()
		if ix.blClosed {
			return nil, errIndexNotFound(ix.name)
		}
		bls = append(bls, ix.bl)
	}
	target := bls[0]
	if len(bls) > 1 {
		target = bleve.NewIndexAlias(bls...)
	}
	req := bleve.NewSearchRequestOptions(sr.q, sr.size, sr.from, false)
	req.Fields = []string{srcField, metaField}
	if len(sr.sort) > 0 {
		req.Sort = bleveSort(sr.sort)
	}
	if !sr.sortByScore {
		req.Score = "none"
	}
	res, err := target.SearchInContext(ctx, req)
	if err != nil {
		return nil, errQueryShard(ixs[0].name, "failed to execute search: %v", err)
	}
	return res, nil
}

func renderSearch(q *req, ixs []*index, sr *searchRequest, res *bleve.SearchResult) map[string]any {
	hits := make([]any, 0, len(res.Hits))
	var maxScore any
	if sr.sortByScore && len(res.Hits) > 0 {
		maxScore = res.MaxScore
	}
	for _, h := range res.Hits {
		idxName := h.Index
		if idxName == "" && len(ixs) == 1 {
			idxName = ixs[0].name
		}
		hit := map[string]any{"_index": idxName, "_id": h.ID, "_score": nil}
		if sr.sortByScore {
			hit["_score"] = h.Score
		}
		src, _ := h.Fields[srcField].(string)
		if sr.source {
			hit["_source"] = json.RawMessage(src)
		}
		if meta, ok := h.Fields[metaField].(string); ok && (sr.version || sr.seqNo) {
			vs, ss, _ := strings.Cut(meta, " ")
			v, _ := strconv.ParseInt(vs, 10, 64)
			s, _ := strconv.ParseInt(ss, 10, 64)
			if sr.version {
				hit["_version"] = v
			}
			if sr.seqNo {
				hit["_seq_no"], hit["_primary_term"] = s, primaryTS
			}
		}
		if len(sr.sort) > 0 {
			hit["sort"] = sortValues(sr.sort, h, src)
		}
		hits = append(hits, hit)
	}
	out := map[string]any{
		"took":      q.took(),
		"timed_out": false,
		"_shards":   map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0},
	}
	h := map[string]any{"max_score": maxScore, "hits": hits}
	total := int(res.Total)
	switch {
	case sr.totalAsInt:
		h["total"] = total
	case sr.trackTotal == 0:
	case sr.trackTotal > 0 && total > sr.trackTotal:
		h["total"] = map[string]any{"value": sr.trackTotal, "relation": "gte"}
	default:
		h["total"] = map[string]any{"value": total, "relation": "eq"}
	}
	out["hits"] = h
	return out
}

// sortValues computes a hit's "sort" array from its source, as
// Elasticsearch reports it (dates as epoch millis).
func sortValues(specs []sortSpec, h *search.DocumentMatch, src string) []any {
	var doc map[string]any
	_ = decodeJSON([]byte(src), &doc)
	out := make([]any, 0, len(specs))
	for _, s := range specs {
		switch s.field {
		case "_score":
			out = append(out, h.Score)
			continue
		case "_id", "_doc":
			out = append(out, h.ID)
			continue
		}
		vals := lookupPath(doc, s.field)
		var best any
		for _, v := range vals {
			sv := sortValue(s.fd, v)
			if sv == nil {
				continue
			}
			if best == nil || lessSortValue(sv, best) != s.desc {
				best = sv
			}
		}
		out = append(out, best)
	}
	return out
}

func sortValue(fd *fieldDef, v any) any {
	switch fd.family {
	case famLong:
		f, ok := parseNumber(v)
		if !ok {
			return nil
		}
		return int64(math.Trunc(f))
	case famDouble:
		f, ok := parseNumber(v)
		if !ok {
			return nil
		}
		return f
	case famDate:
		t, ok := dateValue(v, fd.format)
		if !ok {
			return nil
		}
		return t.UnixMilli()
	case famBool:
		b, ok := boolValue(v)
		if !ok {
			return nil
		}
		if b {
			return 1
		}
		return 0
	}
	return scalarString(v)
}

func lessSortValue(a, b any) bool {
	switch x := a.(type) {
	case int64:
		y, _ := b.(int64)
		return x < y
	case float64:
		y, _ := b.(float64)
		return x < y
	case int:
		y, _ := b.(int)
		return x < y
	case string:
		y, _ := b.(string)
		return x < y
	}
	return false
}

// lookupPath returns the values at a dotted path, flattening arrays.
func lookupPath(doc map[string]any, path string) []any {
	var out []any
	var walk func(v any, parts []string)
	walk = func(v any, parts []string) {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				walk(e, parts)
			}
			return
		}
		if len(parts) == 0 {
			if v != nil {
				out = append(out, v)
			}
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		// A key may itself contain dots ("a.b": 1).
		for i := len(parts); i >= 1; i-- {
			if sub, ok := m[strings.Join(parts[:i], ".")]; ok {
				walk(sub, parts[i:])
			}
		}
	}
	walk(doc, strings.Split(path, "."))
	return out
}

func (n *Node) handleCount(q *req) {
	expr := ""
	if len(q.segs) == 2 {
		expr = q.segs[0]
	}
	ixs, e := n.resolve(expr)
	if e != nil {
		q.fail(e)
		return
	}
	body, e := q.jsonBody()
	if e != nil {
		q.fail(e)
		return
	}
	sr := &searchRequest{q: query.NewMatchAllQuery(), size: 0, trackTotal: -1}
	for k, v := range body {
		if k != "query" {
			q.fail(errParsing("request does not support [%s]", k))
			return
		}
		if sr.q, e = newQueryCompiler(ixs).compile(v); e != nil {
			q.fail(e)
			return
		}
	}
	if q.q.Has("q") {
		q.fail(errUnsupported("_count?q (query string syntax)"))
		return
	}
	res, e := runSearch(q.r.Context(), ixs, sr)
	if e != nil {
		q.fail(e)
		return
	}
	q.reply(http.StatusOK, map[string]any{
		"count":   res.Total,
		"_shards": map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0},
	})
}
