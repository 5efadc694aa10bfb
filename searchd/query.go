package searchd

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/search/query"
)

// knownQueries are Elasticsearch query clauses searchd does not implement:
// they get "searchd does not support [query.X]" rather than the
// parsing_exception an unknown name gets.
var knownQueries = map[string]bool{
	"match_phrase": true, "match_phrase_prefix": true, "match_bool_prefix": true, "multi_match": true,
	"query_string": true, "simple_query_string": true, "wildcard": true, "regexp": true, "fuzzy": true,
	"exists": true, "nested": true, "has_child": true, "has_parent": true, "geo_shape": true,
	"geo_distance": true, "geo_bounding_box": true, "geo_polygon": true, "more_like_this": true,
	"script": true, "script_score": true, "function_score": true, "dis_max": true, "boosting": true,
	"constant_score": true, "intervals": true, "span_term": true, "span_near": true, "knn": true,
	"percolate": true, "rank_feature": true, "distance_feature": true, "pinned": true, "combined_fields": true,
	"terms_set": true, "wrapper": true, "neural": true, "hybrid": true,
}

// queryCompiler turns an Elasticsearch query DSL object into a Bleve query.
type queryCompiler struct {
	fields map[string]*fieldDef // the searched indices' fields, first wins
	index  string               // for error messages
}

func newQueryCompiler(ixs []*index) *queryCompiler {
	c := &queryCompiler{fields: map[string]*fieldDef{}}
	for _, ix := range ixs {
		if c.index == "" {
			c.index = ix.name
		}
		for p, fd := range ix.state.Load().mapping.fields {
			if _, ok := c.fields[p]; !ok {
				c.fields[p] = fd
			}
		}
	}
	return c
}

// compile compiles one query clause ({"term":{..}}).
func (c *queryCompiler) compile(v any) (query.Query, *esError) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, errParsing("query malformed, must start with start_object and hold exactly one clause")
	}
	for name, body := range m {
		switch name {
		case "match_all":
			return boost(query.NewMatchAllQuery(), body), nil
		case "match_none":
			return query.NewMatchNoneQuery(), nil
		case "term":
			return c.term(body)
		case "terms":
			return c.terms(body)
		case "ids":
			return c.ids(body)
		case "match":
			return c.match(body)
		case "bool":
			return c.boolQuery(body)
		case "range":
			return c.rangeQuery(body)
		case "prefix":
			return c.prefix(body)
		}
		if knownQueries[name] {
			return nil, errUnsupported("query." + name)
		}
		return nil, errParsing("unknown query [%s]", name)
	}
	return nil, nil
}

// fieldClause splits {"field": value} or {"field": {"value": v, ...}}.
func fieldClause(kind string, body any, valueKey string) (string, any, map[string]any, *esError) {
	m, ok := body.(map[string]any)
	if !ok || len(m) == 0 {
		return "", nil, nil, errParsing("[%s] query malformed, no start_object after query name", kind)
	}
	var field string
	var v any
	n := 0
	for k, val := range m {
		if k == "boost" || k == "_name" {
			continue
		}
		field, v = k, val
		n++
	}
	if n != 1 {
		return "", nil, nil, errParsing("[%s] query doesn't support multiple fields, found [%d]", kind, n)
	}
	if opts, ok := v.(map[string]any); ok {
		val, ok := opts[valueKey]
		if !ok {
			return "", nil, nil, errParsing("[%s] query does not support [%s] without [%s]", kind, field, valueKey)
		}
		for k := range opts {
			switch k {
			case valueKey, "boost", "_name", "case_insensitive", "operator", "analyzer", "zero_terms_query", "lenient", "minimum_should_match", "auto_generate_synonyms_phrase_query", "fuzzy_transpositions", "prefix_length", "max_expansions":
			default:
				return "", nil, nil, errParsing("[%s] query does not support [%s]", kind, k)
			}
		}
		if ci, ok := opts["case_insensitive"].(bool); ok && ci {
			return "", nil, nil, errUnsupported("query." + kind + ".case_insensitive")
		}
		if fz, ok := opts["fuzziness"]; ok && fz != nil {
			return "", nil, nil, errUnsupported("query." + kind + ".fuzziness")
		}
		return field, val, opts, nil
	}
	return field, v, nil, nil
}

func boost(q query.Query, body any) query.Query {
	if m, ok := body.(map[string]any); ok {
		if b, ok := m["boost"].(json.Number); ok {
			if f, err := b.Float64(); err == nil {
				if bq, ok := q.(query.BoostableQuery); ok {
					bq.SetBoost(f)
				}
			}
		}
	}
	return q
}

// exact builds the query for one exact value of field (term semantics).
func (c *queryCompiler) exact(field string, v any) (query.Query, *esError) {
	if field == "_id" {
		return query.NewDocIDQuery([]string{scalarString(v)}), nil
	}
	fd := c.fields[field]
	if fd == nil || !fd.indexed {
		return query.NewMatchNoneQuery(), nil // Elasticsearch: an unmapped field matches nothing
	}
	t := true
	switch fd.family {
	case famText, famKeyword:
		tq := query.NewTermQuery(scalarString(v))
		tq.SetField(field)
		return tq, nil
	case famLong, famDouble:
		f, ok := parseNumber(v)
		if !ok {
			return nil, errQueryShard(c.index, "failed to create query: For input string: \"%s\"", scalarString(v))
		}
		nq := query.NewNumericRangeInclusiveQuery(&f, &f, &t, &t)
		nq.SetField(field)
		return nq, nil
	case famDate:
		d, ok := dateValue(v, fd.format)
		if !ok {
			return nil, errQueryShard(c.index, "failed to parse date field [%s]", scalarString(v))
		}
		dq := query.NewDateRangeInclusiveQuery(d, d, &t, &t)
		dq.SetField(field)
		return dq, nil
	case famBool:
		b, ok := boolValue(v)
		if !ok {
			return nil, errQueryShard(c.index, "Can't parse boolean value [%s], expected [true] or [false]", scalarString(v))
		}
		bq := query.NewBoolFieldQuery(b)
		bq.SetField(field)
		return bq, nil
	}
	return query.NewMatchNoneQuery(), nil
}

func (c *queryCompiler) term(body any) (query.Query, *esError) {
	field, v, _, e := fieldClause("term", body, "value")
	if e != nil {
		return nil, e
	}
	q, e := c.exact(field, v)
	if e != nil {
		return nil, e
	}
	if m, ok := body.(map[string]any)[field].(map[string]any); ok {
		q = boost(q, m)
	}
	return q, nil
}

func (c *queryCompiler) terms(body any) (query.Query, *esError) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, errParsing("[terms] query malformed")
	}
	var field string
	var list []any
	for k, v := range m {
		if k == "boost" || k == "_name" {
			continue
		}
		if field != "" {
			return nil, errParsing("[terms] query does not support multiple fields")
		}
		field = k
		switch t := v.(type) {
		case []any:
			list = t
		case map[string]any:
			return nil, errUnsupported("query.terms.lookup")
		default:
			return nil, errParsing("[terms] query does not support [%s]", k)
		}
	}
	if field == "" {
		return nil, errParsing("[terms] query requires a field")
	}
	if field == "_id" {
		ids := make([]string, len(list))
		for i, v := range list {
			ids[i] = scalarString(v)
		}
		return query.NewDocIDQuery(ids), nil
	}
	qs := make([]query.Query, 0, len(list))
	for _, v := range list {
		q, e := c.exact(field, v)
		if e != nil {
			return nil, e
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return query.NewMatchNoneQuery(), nil
	}
	return query.NewDisjunctionQuery(qs), nil
}

func (c *queryCompiler) ids(body any) (query.Query, *esError) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, errParsing("[ids] query malformed")
	}
	vals, ok := m["values"].([]any)
	if !ok {
		return nil, errParsing("[ids] query requires [values]")
	}
	ids := make([]string, len(vals))
	for i, v := range vals {
		ids[i] = scalarString(v)
	}
	return query.NewDocIDQuery(ids), nil
}

func (c *queryCompiler) match(body any) (query.Query, *esError) {
	field, v, opts, e := fieldClause("match", body, "query")
	if e != nil {
		return nil, e
	}
	fd := c.fields[field]
	if field == "_id" || fd == nil || fd.family != famText {
		return c.exact(field, v)
	}
	if !fd.indexed {
		return query.NewMatchNoneQuery(), nil
	}
	tokens := standardAnalyzer.Analyze([]byte(scalarString(v)))
	seen := map[string]bool{}
	var qs []query.Query
	for _, t := range tokens {
		term := string(t.Term)
		if seen[term] {
			continue
		}
		seen[term] = true
		tq := query.NewTermQuery(term)
		tq.SetField(field)
		qs = append(qs, tq)
	}
	if len(qs) == 0 {
		if opts != nil && opts["zero_terms_query"] == "all" {
			return query.NewMatchAllQuery(), nil
		}
		return query.NewMatchNoneQuery(), nil
	}
	if opts != nil && strings.EqualFold(fmt.Sprint(opts["operator"]), "and") {
		return boost(query.NewConjunctionQuery(qs), opts), nil
	}
	dq := query.NewDisjunctionQuery(qs)
	if opts != nil {
		if msm, ok := opts["minimum_should_match"]; ok {
			n, e := minimumShouldMatch(msm, len(qs))
			if e != nil {
				return nil, e
			}
			dq.SetMin(float64(n))
		}
	}
	return boost(dq, opts), nil
}

// minimumShouldMatch interprets an integer or "N" / "N%" (negative forms
// count from the total, as in Elasticsearch).
func minimumShouldMatch(v any, total int) (int, *esError) {
	s := strings.TrimSpace(scalarString(v))
	pct := strings.HasSuffix(s, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil {
		return 0, errUnsupported("minimum_should_match [" + s + "]")
	}
	if pct {
		n = total * n / 100
	}
	if n < 0 {
		n += total
	}
	return max(0, min(n, total)), nil
}

func (c *queryCompiler) clauses(v any) ([]query.Query, *esError) {
	var list []any
	switch t := v.(type) {
	case []any:
		list = t
	case map[string]any:
		list = []any{t}
	default:
		return nil, errParsing("[bool] query malformed clause")
	}
	out := make([]query.Query, 0, len(list))
	for _, e := range list {
		q, err := c.compile(e)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

func (c *queryCompiler) boolQuery(body any) (query.Query, *esError) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, errParsing("[bool] query malformed, no start_object after query name")
	}
	var must, filter, should, mustNot []query.Query
	var msm any
	for k, v := range m {
		var e *esError
		switch k {
		case "must":
			must, e = c.clauses(v)
		case "filter":
			filter, e = c.clauses(v)
		case "should":
			should, e = c.clauses(v)
		case "must_not":
			mustNot, e = c.clauses(v)
		case "minimum_should_match":
			msm = v
		case "boost", "_name", "adjust_pure_negative":
		default:
			e = errParsing("[bool] query does not support [%s]", k)
		}
		if e != nil {
			return nil, e
		}
	}
	bq := query.NewBooleanQuery(must, nil, mustNot)
	if len(filter) > 0 {
		bq.AddFilter(query.NewConjunctionQuery(filter))
	}
	if len(should) > 0 {
		// Elasticsearch: with no must/filter at least one should must
		// match; otherwise should only scores, unless told otherwise.
		minShould := 0
		if len(must) == 0 && len(filter) == 0 {
			minShould = 1
		}
		if msm != nil {
			n, e := minimumShouldMatch(msm, len(should))
			if e != nil {
				return nil, e
			}
			minShould = n
		}
		if minShould == 0 && len(must) == 0 {
			bq.AddMust(query.NewMatchAllQuery()) // keep should optional under a filter
		}
		bq.AddShould(should...)
		bq.SetMinShould(float64(minShould))
	}
	if len(must) == 0 && len(filter) == 0 && len(should) == 0 && len(mustNot) == 0 {
		return boost(query.NewMatchAllQuery(), body), nil
	}
	return boost(bq, body), nil
}

func (c *queryCompiler) rangeQuery(body any) (query.Query, *esError) {
	m, ok := body.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, errParsing("[range] query malformed, expected one field")
	}
	for field, v := range m {
		opts, ok := v.(map[string]any)
		if !ok {
			return nil, errParsing("[range] query malformed, no start_object after field name")
		}
		var lo, hi any
		loInc, hiInc := true, true
		for k, val := range opts {
			switch k {
			case "gte":
				lo = val
			case "gt":
				lo, loInc = val, false
			case "lte":
				hi = val
			case "lt":
				hi, hiInc = val, false
			case "boost", "format", "_name":
			case "from", "to", "include_lower", "include_upper", "time_zone", "relation":
				return nil, errUnsupported("query.range." + k)
			default:
				return nil, errParsing("[range] query does not support [%s]", k)
			}
		}
		fd := c.fields[field]
		if fd == nil || !fd.indexed {
			return query.NewMatchNoneQuery(), nil
		}
		switch fd.family {
		case famLong, famDouble:
			var lp, hp *float64
			if lo != nil {
				f, ok := parseNumber(lo)
				if !ok {
					return nil, errQueryShard(c.index, "failed to create query: For input string: \"%v\"", lo)
				}
				lp = &f
			}
			if hi != nil {
				f, ok := parseNumber(hi)
				if !ok {
					return nil, errQueryShard(c.index, "failed to create query: For input string: \"%v\"", hi)
				}
				hp = &f
			}
			q := query.NewNumericRangeInclusiveQuery(lp, hp, &loInc, &hiInc)
			q.SetField(field)
			return q, nil
		case famDate:
			q := &query.DateRangeQuery{InclusiveStart: &loInc, InclusiveEnd: &hiInc}
			if lo != nil {
				if strings.Contains(scalarString(lo), "now") {
					return nil, errUnsupported("query.range date math")
				}
				t, ok := dateValue(lo, fd.format)
				if !ok {
					return nil, errQueryShard(c.index, "failed to parse date field [%v]", lo)
				}
				q.Start.Time = t
			}
			if hi != nil {
				if strings.Contains(scalarString(hi), "now") {
					return nil, errUnsupported("query.range date math")
				}
				t, ok := dateValue(hi, fd.format)
				if !ok {
					return nil, errQueryShard(c.index, "failed to parse date field [%v]", hi)
				}
				q.End.Time = t
			}
			q.SetField(field)
			return q, nil
		case famKeyword, famText:
			var lp, hp string
			if lo != nil {
				lp = scalarString(lo)
			}
			if hi != nil {
				hp = scalarString(hi)
			}
			q := query.NewTermRangeInclusiveQuery(lp, hp, &loInc, &hiInc)
			q.SetField(field)
			return q, nil
		}
		return nil, errUnsupported("query.range on a " + fd.typ + " field")
	}
	return nil, nil
}

func (c *queryCompiler) prefix(body any) (query.Query, *esError) {
	field, v, _, e := fieldClause("prefix", body, "value")
	if e != nil {
		return nil, e
	}
	fd := c.fields[field]
	if fd == nil || !fd.indexed || (fd.family != famKeyword && fd.family != famText) {
		return query.NewMatchNoneQuery(), nil
	}
	pq := query.NewPrefixQuery(scalarString(v))
	pq.SetField(field)
	return pq, nil
}
