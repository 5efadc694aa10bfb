package drill

import (
	"strings"
	"testing"

	"firedrill/drill/bundle"
)

func TestVerdict(t *testing.T) {
	pass := CheckResult{Name: "a", Pass: true}
	fail := CheckResult{Name: "b", Observed: "3", Expected: "== 0"}
	complete := bundle.State{State: bundle.StateComplete}
	tests := []struct {
		name     string
		state    bundle.State
		injected int64
		checks   []CheckResult
		want     string
		why      string
	}{
		{"all pass", complete, 5, []CheckResult{pass}, VerdictPass, "all 1 checks passed"},
		{"one fails", complete, 5, []CheckResult{pass, fail}, VerdictFail, "b (observed 3, expected == 0)"},
		{"zero checks never pass", complete, 5, nil, VerdictInconclusive, "zero checks"},
		{"a fault that never fired", complete, 0, []CheckResult{pass}, VerdictInconclusive, "never fired"},
		{"an incomplete run", bundle.State{State: bundle.StateIncomplete, Why: "killed"}, 5, []CheckResult{pass}, VerdictInconclusive, "incomplete: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &evidence{state: tt.state, info: RunFile{Injected: tt.injected, FaultKind: "http_429"}}
			got, why := verdict(ev, tt.checks)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("got %s (%s), want %s (…%s…)", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestFieldsMatch(t *testing.T) {
	rec := map[string]any{"msg": "ack", "attempt": float64(2), "result": "retry", "ok": true}
	tests := []struct {
		match map[string]string
		want  bool
	}{
		{map[string]string{"msg": "ack", "result": "retry"}, true},
		{map[string]string{"attempt": "2"}, true},
		{map[string]string{"ok": "true"}, true},
		{map[string]string{"result": "done"}, false},
		{map[string]string{"reason": "es_429"}, false},
	}
	for _, tt := range tests {
		if got := fieldsMatch(rec, tt.match); got != tt.want {
			t.Errorf("fieldsMatch(%v): got %v, want %v", tt.match, got, tt.want)
		}
	}
}
