package projector

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"firedrill/outbox"
)

func TestDefaultPolicyIsValid(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
}

func TestPolicyValidateNamesTheKey(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Policy)
		want string
	}{
		{"zero budget", func(p *Policy) { p.MaxAttempts = 0 }, "max_attempts: got 0"},
		{"unknown class", func(p *Policy) { p.Classes["418"] = Action{Action: ActionDone} }, `classes.418: unknown class "418"`},
		{"unknown action", func(p *Policy) { p.Classes[Class429] = Action{Action: "ignore"} }, `classes.429.action: got "ignore"`},
		{"retry without reason", func(p *Policy) { p.Classes[Class5xx] = Action{Action: ActionRetry} }, "classes.5xx.reason"},
		{"unknown reason", func(p *Policy) { p.Classes[Class5xx] = Action{Action: ActionFail, Reason: "es_teapot"} }, `unknown reason "es_teapot"`},
		{"done with reason", func(p *Policy) { p.Classes[Class2xx] = Action{Action: ActionDone, Reason: outbox.ReasonES429} }, "a done action takes no reason"},
		{"jitter above 1", func(p *Policy) { p.Backoff.Jitter = 1.5 }, "backoff.jitter: got 1.5"},
		{"max below initial", func(p *Policy) { p.Backoff.Max = time.Millisecond }, "backoff.max"},
		{"backoff on fail", func(p *Policy) {
			p.Classes[Class4xx] = Action{Action: ActionFail, Reason: outbox.ReasonES4xx, Backoff: &Backoff{Initial: time.Second}}
		}, "classes.4xx.backoff: only a retry action"},
		{"missing class", func(p *Policy) { delete(p.Classes, ClassTimeout) }, `class "timeout" has no action`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy().Merge(Policy{})
			tc.edit(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPolicyMergeOverridesOnlyWhatIsSet(t *testing.T) {
	p := DefaultPolicy().Merge(Policy{MaxAttempts: 3, Classes: map[Class]Action{Class429: {Action: ActionDone}}})
	if p.MaxAttempts != 3 || p.Classes[Class429].Action != ActionDone {
		t.Fatalf("override not applied: got %+v", p)
	}
	if p.Classes[Class5xx].Reason != outbox.ReasonES5xx || p.Backoff != DefaultPolicy().Backoff {
		t.Fatalf("defaults lost: got %+v", p)
	}
	if DefaultPolicy().Classes[Class429].Action != ActionRetry {
		t.Fatal("Merge mutated the default table")
	}
}

func TestBackoffDelayGrowsAndCaps(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {80, time.Second}} {
		if got := b.Delay(tc.attempts, nil); got != tc.want {
			t.Errorf("attempt %d: got %v, want %v", tc.attempts, got, tc.want)
		}
	}
	b.Jitter = 0.5
	rnd := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Hour, time.Duration(0)
	for range 1000 {
		d := b.Delay(3, rnd)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 200*time.Millisecond || hi > 400*time.Millisecond || hi-lo < 150*time.Millisecond {
		t.Fatalf("jittered delays span [%v, %v], want within [200ms, 400ms] and spread", lo, hi)
	}
}
