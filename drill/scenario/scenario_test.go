package scenario_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"firedrill/drill/scenario"
	"firedrill/scenarios"
)

func TestBuiltInCatalog(t *testing.T) {
	c, err := scenario.Load(scenario.Source{FS: scenarios.FS, Dir: ".", Label: "built-in"})
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Join(c.IDs(), " ")
	for _, want := range []string{"es_429_inject", "es_write_block_4xx", "es_bulk_partial"} {
		s, err := c.Get(want)
		if err != nil {
			t.Fatalf("%s: %v (have %s)", want, err, ids)
		}
		if s.Priority != "P0" || len(s.Checks) == 0 || s.Fault.Kind == "" {
			t.Errorf("%s: %+v", want, s)
		}
		if _, err := s.Recipe(); err != nil {
			t.Errorf("%s recipe: %v", want, err)
		}
	}
	if _, err := c.Get("nope"); !errors.Is(err, scenario.ErrNotFound) || !strings.Contains(err.Error(), "es_429_inject") {
		t.Errorf("missing id: %v, want ErrNotFound listing the ids", err)
	}
}

const good = `id: demo
priority: P1
description: a demo
fault:
  kind: http_429
  every_n: "2"
  duration_s: "3"
checks:
  - name: fired
    kind: fault
    expect: "> 0"
`

func TestBadScenariosNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown field", strings.Replace(good, "priority: P1", "priority: P1\ncolour: red", 1), "demo.yaml: line 3: field colour not found"},
		{"bad priority", strings.Replace(good, "P1", "P9", 1), `demo.yaml:2: priority: "P9" must be one of P0, P1, P2, P3, beyond`},
		{"bad id", strings.Replace(good, "id: demo", "id: Demo Drill", 1), `demo.yaml:1: id: "Demo Drill" must be lowercase`},
		{"bad every_n", strings.Replace(good, `every_n: "2"`, `every_n: "0"`, 1), `demo.yaml:4: fault: invalid fault: FAULT_EVERY_N="0" (from scenario)`},
		{"bad kind", strings.Replace(good, "kind: http_429", "kind: http_418", 1), `demo.yaml:5: fault.kind: "http_418" is not a fault kind`},
		{"no checks", strings.Split(good, "checks:")[0], "demo.yaml: checks: a scenario needs at least one check"},
		{"bad expect", strings.Replace(good, `"> 0"`, `"about 3"`, 1), `demo.yaml:11: checks[0].expect: "about 3": operator "about" is not one of`},
		{"bad check kind", strings.Replace(good, "kind: fault\n", "kind: vibes\n", 1), `demo.yaml:10: checks[0].kind: "vibes": allowed: metric, log, trace, consistency, fault`},
		{"metric without query", strings.Replace(good, "kind: fault\n", "kind: metric\n", 1), "demo.yaml:9: checks[0]: a metric check has exactly one of query (PromQL) or delta"},
		{"bad PromQL", strings.Replace(good, "kind: fault\n", "kind: metric\n    query: sum(rate(x[1m]\n", 1), `demo.yaml:11: checks[0].query: "sum(rate(x[1m]" is not PromQL`},
		{"bad selector", strings.Replace(good, "kind: fault\n", "kind: metric\n    delta: sum(x)\n", 1), `demo.yaml:11: checks[0].delta: "sum(x)" is not a series selector`},
		{"bad consistency field", strings.Replace(good, "kind: fault\n", "kind: consistency\n    field: missing\n", 1), `checks[0].field: "missing": allowed: lost, stale`},
		{"bad option", strings.Replace(good, `duration_s: "3"`, "duration_s: \"3\"\n  options: {colour: red}", 1), "demo.yaml:8: fault.options.colour: unknown option"},
		{"bad ratio", strings.Replace(good, "fault:", "load:\n  update_ratio: 2\nfault:", 1), "demo.yaml:5: load.update_ratio: 2 must be a share from 0 to 1"},
		{"duplicate check", good + "  - name: fired\n    kind: fault\n    expect: \"> 0\"\n", `checks[1].name: "fired" is used by another check`},
		{"two documents", good + "---\nid: other\n", "demo.yaml:12: one scenario per file"},
		{"not yaml", "id: [", "demo.yaml: line 1: did not find expected node content"},
		{"empty", "", "demo.yaml: the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenario.Parse("demo.yaml", []byte(tc.body))
			if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestUserDirectoryOverridesAndRejectsDuplicates(t *testing.T) {
	user := fstest.MapFS{"mine.yaml": {Data: []byte(strings.Replace(good, "id: demo", "id: es_429_inject", 1))}}
	c, err := scenario.Load(scenario.Source{FS: scenarios.FS, Dir: ".", Label: "built-in"}, scenario.Source{FS: user, Dir: ".", Label: "scenarios"})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Get("es_429_inject"); s.Priority != "P1" || s.File != "scenarios/mine.yaml" {
		t.Errorf("the user's file does not win: %s %s", s.Priority, s.File)
	}
	dup := fstest.MapFS{"a.yaml": {Data: []byte(good)}, "b.yaml": {Data: []byte(good)}}
	if _, err := scenario.Load(scenario.Source{FS: dup, Dir: ".", Label: "scenarios"}); err == nil || !strings.Contains(err.Error(), "scenarios/b.yaml: id demo is also the id of scenarios/a.yaml") {
		t.Errorf("duplicate ids: %v", err)
	}
}

func TestHolds(t *testing.T) {
	for _, tc := range []struct {
		expect string
		v      float64
		want   bool
	}{{"> 0", 1, true}, {"> 0", 0, false}, {"== 0", 0, true}, {">= 3", 3, true}, {"< 2", 2, false}, {"<= 2", 2, true}, {"!= 1", 2, true}} {
		if got, err := scenario.Holds(tc.expect, tc.v); err != nil || got != tc.want {
			t.Errorf("Holds(%q, %v): got %v, %v; want %v", tc.expect, tc.v, got, err, tc.want)
		}
	}
}
