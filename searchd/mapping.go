package searchd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	bindex "github.com/blevesearch/bleve_index_api"
)

// Analyzers. Elasticsearch's standard analyzer is the standard tokenizer
// (Unicode text segmentation) plus lowercasing, without stop words; Bleve's
// "standard" adds English stop words, so searchd builds its own.
var (
	standardAnalyzer = &analysis.DefaultAnalyzer{
		Tokenizer:    unicode.NewUnicodeTokenizer(),
		TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
	}
	keywordAnalyzer = &analysis.DefaultAnalyzer{Tokenizer: single.NewSingleTokenTokenizer()}
)

// Field type families searchd indexes. Other Elasticsearch types are
// accepted in mappings and kept in _source but not indexed.
const (
	famText    = "text"
	famKeyword = "keyword"
	famLong    = "long"
	famDouble  = "double"
	famDate    = "date"
	famBool    = "boolean"
	famNone    = "none"
)

var typeFamilies = map[string]string{
	"text": famText, "match_only_text": famText,
	"keyword": famKeyword, "constant_keyword": famKeyword, "wildcard": famKeyword,
	"long": famLong, "integer": famLong, "short": famLong, "byte": famLong, "unsigned_long": famLong,
	"double": famDouble, "float": famDouble, "half_float": famDouble, "scaled_float": famDouble,
	"date": famDate, "date_nanos": famDate,
	"boolean": famBool,
	"binary":  famNone, "ip": famNone, "geo_point": famNone, "geo_shape": famNone, "flattened": famNone,
	"search_as_you_type": famNone, "completion": famNone, "token_count": famNone, "alias": famNone,
	"dense_vector": famNone, "knn_vector": famNone, "rank_feature": famNone, "rank_features": famNone,
	"percolator": famNone, "join": famNone, "version": famNone, "histogram": famNone,
	"integer_range": famNone, "float_range": famNone, "long_range": famNone, "double_range": famNone,
	"date_range": famNone, "ip_range": famNone,
}

// fieldDef is one mapped leaf field (a multi-field is its own entry).
type fieldDef struct {
	typ         string // Elasticsearch type name
	family      string
	ignoreAbove int // keyword: longer values are not indexed; 0 = no limit
	indexed     bool
	format      string // date format
	subfields   []string
}

// mappingView is the parsed, immutable form of an index's mapping.
type mappingView struct {
	raw     map[string]any       // the mapping as GET _mapping returns it
	dynamic string               // root: "true", "false" or "strict"
	fields  map[string]*fieldDef // dotted path → leaf
	objects map[string]string    // dotted object path → its dynamic ("" inherits, "disabled")
}

// parseMapping validates an Elasticsearch mapping ({"properties":..}).
func parseMapping(raw map[string]any) (*mappingView, *esError) {
	if raw == nil {
		raw = map[string]any{}
	}
	v := &mappingView{raw: raw, dynamic: "true", fields: map[string]*fieldDef{}, objects: map[string]string{}}
	if d, ok := raw["dynamic"]; ok {
		v.dynamic = dynamicValue(d)
	}
	if p, ok := raw["properties"]; ok {
		props, ok := p.(map[string]any)
		if !ok {
			return nil, errMapperParsing("Failed to parse mapping: properties must be an object")
		}
		if err := v.parseProps("", props); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func dynamicValue(d any) string {
	switch fmt.Sprint(d) {
	case "false", "runtime":
		return "false"
	case "strict":
		return "strict"
	}
	return "true"
}

func (v *mappingView) parseProps(prefix string, props map[string]any) *esError {
	for name, d := range props {
		def, ok := d.(map[string]any)
		if !ok {
			return errMapperParsing("Failed to parse mapping: Expected map for property [fields] on field [%s] but got a class java.lang.String", name)
		}
		p := prefix + name
		typ, _ := def["type"].(string)
		if typ == "" || typ == "object" || typ == "nested" {
			dyn := ""
			if dv, ok := def["dynamic"]; ok {
				dyn = dynamicValue(dv)
			}
			if en, ok := def["enabled"]; ok && fmt.Sprint(en) == "false" {
				dyn = "disabled"
			}
			v.objects[p] = dyn
			if sub, ok := def["properties"].(map[string]any); ok {
				if err := v.parseProps(p+".", sub); err != nil {
					return err
				}
			}
			continue
		}
		fd, err := parseFieldDef(name, typ, def)
		if err != nil {
			return err
		}
		v.fields[p] = fd
		if multi, ok := def["fields"].(map[string]any); ok {
			for sub, sd := range multi {
				sdef, ok := sd.(map[string]any)
				if !ok {
					return errMapperParsing("Failed to parse mapping: multi-field [%s.%s] must be an object", p, sub)
				}
				styp, _ := sdef["type"].(string)
				sfd, err := parseFieldDef(sub, styp, sdef)
				if err != nil {
					return err
				}
				v.fields[p+"."+sub] = sfd
				fd.subfields = append(fd.subfields, p+"."+sub)
			}
			sort.Strings(fd.subfields)
		}
	}
	return nil
}

func parseFieldDef(name, typ string, def map[string]any) (*fieldDef, *esError) {
	fam, ok := typeFamilies[typ]
	if !ok {
		return nil, errMapperParsing("Failed to parse mapping: No handler for type [%s] declared on field [%s]", typ, name)
	}
	fd := &fieldDef{typ: typ, family: fam, indexed: fam != famNone}
	if ix, ok := def["index"]; ok && fmt.Sprint(ix) == "false" {
		fd.indexed = false
	}
	if ia, ok := def["ignore_above"]; ok {
		n, err := strconv.Atoi(fmt.Sprint(ia))
		if err != nil || n < 0 {
			return nil, errMapperParsing("Failed to parse mapping: ignore_above of field [%s] must be a non-negative integer", name)
		}
		fd.ignoreAbove = n
	}
	fd.format, _ = def["format"].(string)
	return fd, nil
}

// dynamicFor is the dynamic setting in force for a new field under path.
func (v *mappingView) dynamicFor(path string) string {
	for p := path; ; {
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return v.dynamic
		}
		p = p[:i]
		if d := v.objects[p]; d != "" {
			return d
		}
	}
}

// dynField is a field (or object) dynamic mapping adds.
type dynField struct {
	path string
	def  map[string]any
}

// withFields returns a new view with the dynamic fields added to the raw
// mapping.
func (v *mappingView) withFields(add []dynField) (*mappingView, *esError) {
	raw := deepCopy(v.raw).(map[string]any)
	for _, f := range add {
		parts := strings.Split(f.path, ".")
		m := raw
		for _, p := range parts[:len(parts)-1] {
			props, ok := m["properties"].(map[string]any)
			if !ok {
				props = map[string]any{}
				m["properties"] = props
			}
			obj, ok := props[p].(map[string]any)
			if !ok {
				obj = map[string]any{"properties": map[string]any{}}
				props[p] = obj
			}
			m = obj
		}
		props, ok := m["properties"].(map[string]any)
		if !ok {
			props = map[string]any{}
			m["properties"] = props
		}
		if _, exists := props[parts[len(parts)-1]]; !exists {
			props[parts[len(parts)-1]] = f.def
		}
	}
	return parseMapping(raw)
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// decodeJSON decodes b keeping numbers as json.Number.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// docBuilder walks a source against a mapping: it checks every value,
// collects the fields dynamic mapping must add and, when doc is set, adds
// the Bleve fields to doc.
type docBuilder struct {
	view  *mappingView
	id    string
	doc   *document.Document
	added map[string]*fieldDef
	dyn   []dynField
}

// analyzeSource parses src (a JSON object) against view. It returns the
// Bleve document (when build is set) and the dynamic mapping additions.
func analyzeSource(view *mappingView, id string, src []byte, build bool) (*document.Document, []dynField, *esError) {
	var obj map[string]any
	if err := decodeJSON(src, &obj); err != nil || obj == nil {
		return nil, nil, errMapperParsing("failed to parse")
	}
	b := &docBuilder{view: view, id: id, added: map[string]*fieldDef{}}
	if build {
		b.doc = document.NewDocument(id)
	}
	if err := b.object("", obj); err != nil {
		return nil, nil, err
	}
	return b.doc, b.dyn, nil
}

func (b *docBuilder) object(prefix string, obj map[string]any) *esError {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // dynamic fields are added in a stable order
	for _, k := range keys {
		if k == "" {
			return errMapperParsing("failed to parse: field name cannot be an empty string")
		}
		if strings.HasPrefix(k, "_") && prefix == "" && isMetadataField(k) {
			return errMapperParsing("Field [%s] is a metadata field and cannot be added inside a document. Use the index API request parameters.", k)
		}
		if err := b.value(prefix+k, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

func isMetadataField(k string) bool {
	switch k {
	case "_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term", "_field_names", "_ignored", "_tier", "_doc_count":
		return true
	}
	return false
}

func (b *docBuilder) value(path string, val any) *esError {
	switch t := val.(type) {
	case nil:
		return nil
	case []any:
		for _, e := range t {
			if err := b.value(path, e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if fd := b.field(path); fd != nil {
			return b.parseFailure(path, fd, val)
		}
		if d, ok := b.view.objects[path]; ok {
			if d == "disabled" {
				return nil
			}
			return b.object(path+".", t)
		}
		if _, ok := b.added[path]; !ok && !b.newObject(path) {
			return b.dynamicError(path)
		}
		if b.view.dynamicFor(path) == "false" {
			return nil
		}
		return b.object(path+".", t)
	}
	fd := b.field(path)
	if fd == nil {
		if _, isObj := b.view.objects[path]; isObj {
			return errMapperParsing("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", path, path)
		}
		switch b.view.dynamicFor(path) {
		case "strict":
			return b.dynamicError(path)
		case "false":
			return nil
		}
		fd = b.addDynamic(path, val)
	}
	if err := b.leaf(path, fd, val); err != nil {
		return err
	}
	for _, sub := range fd.subfields {
		if sfd := b.field(sub); sfd != nil {
			if err := b.leaf(sub, sfd, val); err != nil {
				return err
			}
		}
	}
	return nil
}

// newObject registers a dynamic object mapping; false when dynamic is strict.
func (b *docBuilder) newObject(path string) bool {
	switch b.view.dynamicFor(path) {
	case "strict":
		return false
	case "false":
		return true
	}
	b.dyn = append(b.dyn, dynField{path: path, def: map[string]any{"properties": map[string]any{}}})
	b.view = b.viewWithObject(path)
	return true
}

func (b *docBuilder) viewWithObject(path string) *mappingView {
	// Record the object locally so children see it; the caller persists
	// the additions.
	v := *b.view
	v.objects = make(map[string]string, len(b.view.objects)+1)
	for k, d := range b.view.objects {
		v.objects[k] = d
	}
	v.objects[path] = ""
	return &v
}

func (b *docBuilder) dynamicError(path string) *esError {
	parent := "_doc"
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent = path[:i]
	}
	name := path[strings.LastIndexByte(path, '.')+1:]
	return &esError{status: 400, typ: "strict_dynamic_mapping_exception",
		reason: fmt.Sprintf("mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", name, parent)}
}

func (b *docBuilder) field(path string) *fieldDef {
	if fd, ok := b.view.fields[path]; ok {
		return fd
	}
	return b.added[path]
}

// addDynamic maps a new field the way Elasticsearch's dynamic mapping does:
// strings become text with a keyword sub-field (or date when they look
// like one), integers long, other numbers float, booleans boolean.
func (b *docBuilder) addDynamic(path string, val any) *fieldDef {
	var def map[string]any
	switch t := val.(type) {
	case string:
		if _, ok := parseDate(t, ""); ok && len(t) >= 10 && strings.Count(t, "-") >= 2 {
			def = map[string]any{"type": "date"}
		} else {
			def = map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}
		}
	case json.Number:
		if strings.ContainsAny(t.String(), ".eE") {
			def = map[string]any{"type": "float"}
		} else {
			def = map[string]any{"type": "long"}
		}
	case bool:
		def = map[string]any{"type": "boolean"}
	default:
		def = map[string]any{"type": "keyword"}
	}
	fd, _ := parseFieldDef(path, def["type"].(string), def)
	b.added[path] = fd
	if def["type"] == "text" {
		kw := &fieldDef{typ: "keyword", family: famKeyword, indexed: true, ignoreAbove: 256}
		b.added[path+".keyword"] = kw
		fd.subfields = []string{path + ".keyword"}
	}
	b.dyn = append(b.dyn, dynField{path: path, def: def})
	return fd
}

func (b *docBuilder) parseFailure(path string, fd *fieldDef, val any) *esError {
	preview := fmt.Sprint(val)
	if s, ok := val.(string); ok {
		preview = s
	}
	if utf8.RuneCountInString(preview) > 20 {
		preview = string([]rune(preview)[:20]) + "..."
	}
	return errMapperParsing("failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", path, fd.typ, b.id, preview)
}

// leaf checks one value against its field and adds its Bleve field.
func (b *docBuilder) leaf(path string, fd *fieldDef, val any) *esError {
	if _, isObj := val.(map[string]any); isObj && fd.family != famNone {
		return b.parseFailure(path, fd, val)
	}
	switch fd.family {
	case famText, famKeyword:
		s := scalarString(val)
		if fd.family == famKeyword && fd.ignoreAbove > 0 && utf8.RuneCountInString(s) > fd.ignoreAbove {
			return nil
		}
		if b.doc != nil && fd.indexed {
			if fd.family == famText {
				b.doc.AddField(document.NewTextFieldCustom(path, nil, []byte(s), bindex.IndexField, standardAnalyzer))
			} else {
				b.doc.AddField(document.NewTextFieldCustom(path, nil, []byte(s), bindex.IndexField|bindex.DocValues, keywordAnalyzer))
			}
		}
	case famLong, famDouble:
		n, ok := parseNumber(val)
		if !ok || (fd.family == famLong && (n > math.MaxInt64 || n < math.MinInt64)) {
			return b.parseFailure(path, fd, val)
		}
		if fd.family == famLong {
			n = math.Trunc(n)
		}
		if b.doc != nil && fd.indexed {
			b.doc.AddField(document.NewNumericFieldWithIndexingOptions(path, nil, n, bindex.IndexField|bindex.DocValues))
		}
	case famDate:
		t, ok := dateValue(val, fd.format)
		if !ok {
			return b.parseFailure(path, fd, val)
		}
		if b.doc != nil && fd.indexed {
			f, err := document.NewDateTimeFieldWithIndexingOptions(path, nil, t, time.RFC3339Nano, bindex.IndexField|bindex.DocValues)
			if err != nil {
				return b.parseFailure(path, fd, val)
			}
			b.doc.AddField(f)
		}
	case famBool:
		v, ok := boolValue(val)
		if !ok {
			return b.parseFailure(path, fd, val)
		}
		if b.doc != nil && fd.indexed {
			b.doc.AddField(document.NewBooleanFieldWithIndexingOptions(path, nil, v, bindex.IndexField|bindex.DocValues))
		}
	}
	return nil
}

func scalarString(val any) string {
	switch t := val.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return fmt.Sprint(val)
}

// parseNumber accepts numbers and numeric strings (Elasticsearch coerces).
func parseNumber(val any) (float64, bool) {
	var s string
	switch t := val.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	case float64:
		return t, true
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func boolValue(val any) (bool, bool) {
	switch t := val.(type) {
	case bool:
		return t, true
	case string:
		switch t {
		case "true":
			return true, true
		case "false", "":
			return false, true
		}
	}
	return false, false
}

// dateValue parses a date field value: a string in the field's format
// (default strict_date_optional_time||epoch_millis) or epoch millis.
func dateValue(val any, format string) (time.Time, bool) {
	switch t := val.(type) {
	case json.Number:
		return epochValue(t.String(), format)
	case float64:
		return epochValue(strconv.FormatFloat(t, 'f', -1, 64), format)
	case string:
		return parseDate(t, format)
	}
	return time.Time{}, false
}

func epochValue(s, format string) (time.Time, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, false
	}
	if strings.Contains(format, "epoch_second") && !strings.Contains(format, "epoch_millis") {
		return time.UnixMilli(int64(f * 1000)).UTC(), true
	}
	return time.UnixMilli(int64(f)).UTC(), true
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02T15",
	"2006-01-02",
	"2006-01",
	"2006",
	"2006/01/02 15:04:05",
	"2006/01/02",
}

// parseDate parses the ISO 8601 forms of strict_date_optional_time; a
// string of digits is epoch millis (or seconds for epoch_second). Custom
// Java-style formats are not interpreted: searchd falls back to these.
func parseDate(s, format string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if strings.Trim(s, "0123456789-.") == "" && !strings.Contains(s[1:], "-") && (format == "" || strings.Contains(format, "epoch")) {
		if len(s) > 4 || strings.Contains(format, "epoch") {
			return epochValue(s, format)
		}
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
