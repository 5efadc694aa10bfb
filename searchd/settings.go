package searchd

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Block descriptions as Elasticsearch and OpenSearch print them in
// cluster_block_exception reasons.
const (
	blockWrite               = "FORBIDDEN/8/index write (api)"
	blockReadOnly            = "FORBIDDEN/5/index read-only (api)"
	blockReadOnlyAllowDelete = "TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block"
)

// Setting defaults, as in Elasticsearch.
const (
	defaultRefreshInterval = time.Second
	defaultGCDeletes       = 60 * time.Second
	defaultMaxResultWindow = 10000
)

// staticSettings may only be given when an index is created.
var staticSettings = map[string]bool{"index.number_of_shards": true}

// indexSettings is the interpreted view of an index's flat settings.
type indexSettings struct {
	refreshInterval time.Duration // <0: no periodic refresh
	gcDeletes       time.Duration
	writeBlock      string // "" or the block that stops writes
	maxResultWindow int
}

// flattenSettings turns a settings body ({"index":{"blocks":{"write":true}}},
// {"index.blocks.write":"true"}, {"settings":{...}} or a mix) into
// "index."-prefixed flat keys with string values; nil values mean "reset".
func flattenSettings(body map[string]any) (map[string]any, *esError) {
	if s, ok := body["settings"].(map[string]any); ok && len(body) == 1 {
		body = s
	}
	out := map[string]any{}
	var walk func(prefix string, v any) *esError
	walk = func(prefix string, v any) *esError {
		switch t := v.(type) {
		case map[string]any:
			for k, sub := range t {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				if err := walk(key, sub); err != nil {
					return err
				}
			}
			return nil
		case nil:
			out[prefix] = nil
		case string:
			out[prefix] = t
		case bool:
			out[prefix] = strconv.FormatBool(t)
		case json.Number:
			out[prefix] = t.String()
		case float64:
			out[prefix] = strconv.FormatFloat(t, 'f', -1, 64)
		case []any:
			strs := make([]any, len(t))
			for i, e := range t {
				strs[i] = fmt.Sprint(e)
			}
			out[prefix] = strs
		default:
			return errIllegalArgument("setting [%s] has an unsupported value", prefix)
		}
		return nil
	}
	if err := walk("", body); err != nil {
		return nil, err
	}
	norm := make(map[string]any, len(out))
	for k, v := range out {
		if !strings.HasPrefix(k, "index.") {
			k = "index." + k
		}
		norm[k] = v
	}
	return norm, nil
}

// interpretSettings validates the settings searchd acts on and returns their
// meaning. Unknown index.* settings are kept and returned as they were set.
func interpretSettings(flat map[string]any) (indexSettings, *esError) {
	s := indexSettings{refreshInterval: defaultRefreshInterval, gcDeletes: defaultGCDeletes, maxResultWindow: defaultMaxResultWindow}
	str := func(k string) (string, bool) {
		v, ok := flat[k].(string)
		return v, ok
	}
	if v, ok := str("index.refresh_interval"); ok {
		d, err := parseTimeValue("index.refresh_interval", v)
		if err != nil {
			return s, err
		}
		s.refreshInterval = d
	}
	if v, ok := str("index.gc_deletes"); ok {
		d, err := parseTimeValue("index.gc_deletes", v)
		if err != nil {
			return s, err
		}
		s.gcDeletes = max(d, 0)
	}
	for _, b := range []struct{ key, block string }{
		{"index.blocks.write", blockWrite},
		{"index.blocks.read_only", blockReadOnly},
		{"index.blocks.read_only_allow_delete", blockReadOnlyAllowDelete},
		{"index.blocks.read", ""},
		{"index.blocks.metadata", ""},
	} {
		v, ok := str(b.key)
		if !ok {
			continue
		}
		on, err := parseBoolSetting(v)
		if err != nil {
			return s, err
		}
		if on && b.block != "" && s.writeBlock == "" {
			s.writeBlock = b.block
		}
	}
	for _, k := range []string{"index.number_of_shards", "index.number_of_replicas", "index.max_result_window"} {
		v, ok := str(k)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (k == "index.number_of_shards" && n < 1) {
			return s, errIllegalArgument("Failed to parse value [%s] for setting [%s]", v, k)
		}
		if k == "index.max_result_window" {
			s.maxResultWindow = n
		}
	}
	return s, nil
}

func parseBoolSetting(v string) (bool, *esError) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errIllegalArgument("Failed to parse value [%s] as only [true] or [false] are allowed.", v)
}

// parseTimeValue parses an Elasticsearch time value ("1s", "500ms", "-1").
func parseTimeValue(key, v string) (time.Duration, *esError) {
	if v == "-1" {
		return -1, nil
	}
	if v == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second},
		{"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	lower := strings.ToLower(strings.TrimSpace(v))
	for _, u := range units {
		if num, ok := strings.CutSuffix(lower, u.suffix); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n < 0 {
				break
			}
			return time.Duration(n * float64(u.unit)), nil
		}
	}
	return 0, errIllegalArgument("failed to parse setting [%s] with value [%s] as a time value: unit is missing or unrecognized", key, v)
}

// nestSettings renders flat keys as nested objects, as GET _settings does
// without flat_settings.
func nestSettings(flat map[string]any) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts := strings.Split(k, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = flat[k]
	}
	return out
}

// defaultSettings are what include_defaults=true adds for the settings
// searchd acts on.
func defaultSettings() map[string]any {
	return map[string]any{
		"index.refresh_interval":  "1s",
		"index.gc_deletes":        "60s",
		"index.blocks.write":      "false",
		"index.blocks.read_only":  "false",
		"index.max_result_window": strconv.Itoa(defaultMaxResultWindow),
	}
}
