package fault_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"firedrill/fault"
)

func TestResolvePrecedenceAndSources(t *testing.T) {
	r, err := fault.Resolve(
		fault.Layer{Source: fault.SourceScenario, Vars: map[string]string{"FAULT_SCENARIO": "es_429_inject", "FAULT_EVERY_N": "5", "FAULT_DURATION_S": "20"}},
		fault.Layer{Source: fault.SourceEnvFile, Vars: map[string]string{"FAULT_EVERY_N": "4", "OTHER": "x"}},
		fault.Layer{Source: fault.SourceEnv, Vars: map[string]string{"FAULT_EVERY_N": "3", "FAULT_MATCH": "path=_bulk;op=upsert,delete"}},
		fault.Layer{Source: fault.SourceFlag, Vars: map[string]string{"FAULT_DURATION_S": "2.5"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if r.Scenario != "es_429_inject" || r.EveryN != 3 || r.Duration != 2500*time.Millisecond || r.Rate != 1 {
		t.Fatalf("got %+v", r)
	}
	if got := r.Match.String(); got != "path=_bulk;op=upsert,delete" {
		t.Errorf("match: got %q", got)
	}
	for k, want := range map[string]string{"FAULT_SCENARIO": "scenario", "FAULT_EVERY_N": "env", "FAULT_DURATION_S": "flag", "FAULT_RATE": ""} {
		if got := r.Source(k); got != want {
			t.Errorf("source of %s: got %q, want %q", k, got, want)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"FAULT_SCENARIO":{"value":"es_429_inject","source":"scenario"},"FAULT_RATE":{"value":"1","source":"default"},` +
		`"FAULT_EVERY_N":{"value":"3","source":"env"},"FAULT_DURATION_S":{"value":"2.5","source":"flag"},` +
		`"FAULT_MATCH":{"value":"path=_bulk;op=upsert,delete","source":"env"},"FAULT_SEED":{"value":"0","source":"default"}}`
	if string(b) != want {
		t.Errorf("json:\n got %s\nwant %s", b, want)
	}
	var back fault.Recipe
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.EveryN != 3 || back.Duration != r.Duration || back.Source("FAULT_EVERY_N") != "env" || back.Match.String() != r.Match.String() {
		t.Errorf("round trip: got %+v", back)
	}
	if env := strings.Join(r.Env(), " "); env != "FAULT_SCENARIO=es_429_inject FAULT_EVERY_N=3 FAULT_DURATION_S=2.5 FAULT_MATCH=path=_bulk;op=upsert,delete" {
		t.Errorf("env: got %s", env)
	}
}

func TestBadRecipes(t *testing.T) {
	for _, tc := range []struct {
		k, v, want string
	}{
		{"FAULT_RATE", "1.5", `FAULT_RATE="1.5" (from env): must be a number from 0 to 1`},
		{"FAULT_RATE", "-0.1", `FAULT_RATE="-0.1" (from env): must be a number from 0 to 1`},
		{"FAULT_RATE", "half", `FAULT_RATE="half" (from env): must be a number from 0 to 1`},
		{"FAULT_RATE", "NaN", `FAULT_RATE="NaN" (from env): must be a number from 0 to 1`},
		{"FAULT_EVERY_N", "0", `FAULT_EVERY_N="0" (from env): must be a whole number ≥ 1`},
		{"FAULT_EVERY_N", "2.5", `FAULT_EVERY_N="2.5" (from env): must be a whole number ≥ 1`},
		{"FAULT_DURATION_S", "0", `FAULT_DURATION_S="0" (from env): must be a number of seconds > 0`},
		{"FAULT_DURATION_S", "-3", `FAULT_DURATION_S="-3" (from env): must be a number of seconds > 0`},
		{"FAULT_DURATION_S", "soon", `FAULT_DURATION_S="soon" (from env): must be a number of seconds > 0`},
		{"FAULT_SCENARIO", "ES 429!", `FAULT_SCENARIO="ES 429!" (from env): must be a scenario id`},
		{"FAULT_MATCH", "colour=red", `FAULT_MATCH="colour=red" (from env): unknown key "colour"; keys: method, path, op, index, projection`},
		{"FAULT_MATCH", "path", `FAULT_MATCH="path" (from env): "path" is not key=value`},
		{"FAULT_MATCH", "op=upsert,", `FAULT_MATCH="op=upsert," (from env): key "op" has an empty value`},
		{"FAULT_MATCH", "op=merge", `FAULT_MATCH="op=merge" (from env): op "merge" is not one of index, create, update, delete, upsert`},
		{"FAULT_MATCH", "method=FETCH", `FAULT_MATCH="method=FETCH" (from env): method "FETCH" is not one of GET, HEAD, POST, PUT, DELETE, PATCH`},
		{"FAULT_MATCH", "op=index;op=delete", `FAULT_MATCH="op=index;op=delete" (from env): key "op" given twice`},
		{"FAULT_MATCH", "index=[", `FAULT_MATCH="index=[" (from env): index "[" is not a valid glob`},
		{"FAULT_SEED", "-1", `FAULT_SEED="-1" (from env): must be a whole number ≥ 0`},
		{"FAULT_RATIO", "0.5", `FAULT_RATIO (from env) is not a recipe variable; known: FAULT_SCENARIO, FAULT_RATE`},
	} {
		t.Run(tc.k+"="+tc.v, func(t *testing.T) {
			_, err := fault.Resolve(fault.Layer{Source: fault.SourceEnv, Vars: map[string]string{tc.k: tc.v}})
			if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	m, err := fault.ParseMatch("method=post;path=_bulk;op=upsert;projection=search")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		want         bool
	}{{"POST", "/_bulk", true}, {"post", "/idx/_bulk", true}, {"GET", "/_bulk", false}, {"POST", "/idx/_doc/1", false}} {
		if got := m.Request(tc.method, tc.path); got != tc.want {
			t.Errorf("Request(%s %s): got %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
	for _, tc := range []struct {
		op, index string
		want      bool
	}{{"index", "firedrill-search", true}, {"update", "run1-search", true}, {"delete", "firedrill-search", false},
		{"index", "firedrill-search-v2", false}, {"create", "search", true}} {
		if got := m.Item(tc.op, tc.index); got != tc.want {
			t.Errorf("Item(%s, %s): got %v, want %v", tc.op, tc.index, got, tc.want)
		}
	}
	g, _ := fault.ParseMatch("path=/idx-*/_doc/*;index=idx-*")
	if !g.Request("PUT", "/idx-1/_doc/7") || g.Request("PUT", "/other/_doc/7") || !g.Item("index", "idx-2") || g.Item("index", "x") {
		t.Error("glob match is wrong")
	}
	if empty, _ := fault.ParseMatch(""); !empty.Request("GET", "/") || !empty.Item("delete", "any") || empty.HasItemKeys() {
		t.Error("an empty match must match everything")
	}
}

func TestSelectorEveryNAndSeededRate(t *testing.T) {
	every, _ := fault.Resolve(fault.Layer{Source: "t", Vars: map[string]string{"FAULT_EVERY_N": "4", "FAULT_RATE": "0.9"}})
	s := fault.NewSelector(every)
	var picks []int
	for i := 1; i <= 12; i++ {
		if s.Next() {
			picks = append(picks, i)
		}
	}
	if len(picks) != 3 || picks[0] != 4 || picks[1] != 8 || picks[2] != 12 {
		t.Fatalf("every 4th (winning over rate): got %v, want [4 8 12]", picks)
	}
	rate, _ := fault.Resolve(fault.Layer{Source: "t", Vars: map[string]string{"FAULT_RATE": "0.3", "FAULT_SEED": "42"}})
	seq := func() []bool {
		s := fault.NewSelector(rate)
		out := make([]bool, 10000)
		for i := range out {
			out[i] = s.Next()
		}
		return out
	}
	a, b := seq(), seq()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("unit %d: the same seed picked differently", i)
		}
		if a[i] {
			n++
		}
	}
	// 10,000 draws at 0.3: the standard deviation is 46; ±5 of them is far outside chance.
	if n < 2770 || n > 3230 {
		t.Errorf("rate 0.3 over 10000 units picked %d, want about 3000", n)
	}
	other, _ := fault.Resolve(fault.Layer{Source: "t", Vars: map[string]string{"FAULT_RATE": "0.3", "FAULT_SEED": "43"}})
	s2 := fault.NewSelector(other)
	same := true
	for i := range 200 {
		if s2.Next() != a[i] {
			same = false
		}
	}
	if same {
		t.Error("another seed picked the same 200 units")
	}
	for _, r := range []string{"0", "1"} {
		rc, _ := fault.Resolve(fault.Layer{Source: "t", Vars: map[string]string{"FAULT_RATE": r}})
		s := fault.NewSelector(rc)
		for range 100 {
			if s.Next() != (r == "1") {
				t.Fatalf("rate %s picked wrongly", r)
			}
		}
		if seen, picked := s.Counts(); seen != 100 || (r == "1") != (picked == 100) {
			t.Errorf("rate %s counts: %d seen, %d picked", r, seen, picked)
		}
	}
}
