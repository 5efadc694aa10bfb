package projector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"firedrill/outbox"
)

// Class is what happened to one event's write, the key of the classification table.
type Class string

// The classes the projector tells apart.
const (
	Class2xx            Class = "2xx"            // the item was written
	ClassConflict       Class = "409"            // version_conflict_engine_exception: the engine holds a newer version
	ClassDeleteNotFound Class = "delete_404"     // a delete of a document the engine does not have
	Class429            Class = "429"            // the engine pushes back
	Class4xx            Class = "4xx"            // any other item-level client error (blocked index, mapping error, ...)
	ClassRequest4xx     Class = "request_4xx"    // the whole _bulk refused with a 4xx other than 429 (auth, 404 route, 413)
	Class5xx            Class = "5xx"            // server error, or a response the client could not parse
	ClassConnect        Class = "connect"        // refused, reset or closed connection
	ClassTimeout        Class = "timeout"        // the request timed out
	ClassSourceMissing  Class = "source_missing" // the event's search_index row does not exist
)

// Classes lists every class, in table order.
var Classes = []Class{Class2xx, ClassConflict, ClassDeleteNotFound, Class429, Class4xx, ClassRequest4xx, Class5xx,
	ClassConnect, ClassTimeout, ClassSourceMissing}

// ActionKind is what the projector does with an event of a class.
type ActionKind string

// The action kinds.
const (
	ActionDone  ActionKind = "done"
	ActionRetry ActionKind = "retry"
	ActionFail  ActionKind = "fail"
)

// Action is one row of the classification table.
type Action struct {
	Action ActionKind    `yaml:"action"`
	Reason outbox.Reason `yaml:"reason,omitempty"`
	// Backoff overrides the policy's backoff for this class (retry only).
	Backoff *Backoff `yaml:"backoff,omitempty"`
}

// Backoff is exponential backoff with jitter: the n-th attempt waits
// min(Max, Initial*Multiplier^(n-1)), less up to Jitter of it at random.
type Backoff struct {
	Initial    time.Duration `yaml:"initial"`
	Max        time.Duration `yaml:"max"`
	Multiplier float64       `yaml:"multiplier"`
	Jitter     float64       `yaml:"jitter"`
}

// Delay is the wait before attempt+1, given the attempts made so far (≥ 1).
func (b Backoff) Delay(attempts int, rnd *rand.Rand) time.Duration {
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(max(attempts-1, 0)))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.Max)
	}
	if b.Jitter > 0 && rnd != nil {
		d -= d * b.Jitter * rnd.Float64()
	}
	return time.Duration(d)
}

func (b Backoff) validate(where string) error {
	switch {
	case b.Initial <= 0:
		return fmt.Errorf("%s.initial: got %v, want a positive duration such as 500ms", where, b.Initial)
	case b.Max < b.Initial:
		return fmt.Errorf("%s.max: got %v, want at least initial (%v)", where, b.Max, b.Initial)
	case b.Multiplier < 1:
		return fmt.Errorf("%s.multiplier: got %v, want ≥ 1", where, b.Multiplier)
	case b.Jitter < 0 || b.Jitter > 1:
		return fmt.Errorf("%s.jitter: got %v, want a fraction in [0, 1]", where, b.Jitter)
	}
	return nil
}

// Policy is the classification table and the retry budget. The default is
// DefaultPolicy; an operator overrides parts of it with --policy FILE.
type Policy struct {
	// MaxAttempts is the retry budget: an event retried on its MaxAttempts-th
	// attempt fails (dead letter) with its last reason instead.
	MaxAttempts int              `yaml:"max_attempts"`
	Backoff     Backoff          `yaml:"backoff"`
	Classes     map[Class]Action `yaml:"classes"`
}

// DefaultPolicy is the classification table of DESIGN.md.
func DefaultPolicy() Policy {
	return Policy{
		MaxAttempts: 10,
		Backoff:     Backoff{Initial: 200 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.2},
		Classes: map[Class]Action{
			Class2xx:            {Action: ActionDone},
			ClassConflict:       {Action: ActionDone},
			ClassDeleteNotFound: {Action: ActionDone},
			Class429:            {Action: ActionRetry, Reason: outbox.ReasonES429},
			Class4xx:            {Action: ActionFail, Reason: outbox.ReasonES4xx},
			// A refused request says nothing about its events (a bad
			// credential must not dead-letter the backlog): retry.
			ClassRequest4xx:    {Action: ActionRetry, Reason: outbox.ReasonES4xx},
			Class5xx:           {Action: ActionRetry, Reason: outbox.ReasonES5xx},
			ClassConnect:       {Action: ActionRetry, Reason: outbox.ReasonESConnect},
			ClassTimeout:       {Action: ActionRetry, Reason: outbox.ReasonESTimeout},
			ClassSourceMissing: {Action: ActionFail, Reason: outbox.ReasonSourceMissing},
		},
	}
}

// Merge returns p with every field set in o replacing p's.
func (p Policy) Merge(o Policy) Policy {
	out := p
	out.Classes = make(map[Class]Action, len(p.Classes))
	for k, v := range p.Classes {
		out.Classes[k] = v
	}
	if o.MaxAttempts != 0 {
		out.MaxAttempts = o.MaxAttempts
	}
	if o.Backoff.Initial != 0 {
		out.Backoff.Initial = o.Backoff.Initial
	}
	if o.Backoff.Max != 0 {
		out.Backoff.Max = o.Backoff.Max
	}
	if o.Backoff.Multiplier != 0 {
		out.Backoff.Multiplier = o.Backoff.Multiplier
	}
	if o.Backoff.Jitter != 0 {
		out.Backoff.Jitter = o.Backoff.Jitter
	}
	for k, v := range o.Classes {
		out.Classes[k] = v
	}
	return out
}

// Validate reports the first problem, naming the key to fix.
func (p Policy) Validate() error {
	if p.MaxAttempts < 1 {
		return fmt.Errorf("max_attempts: got %d, want ≥ 1", p.MaxAttempts)
	}
	if err := p.Backoff.validate("backoff"); err != nil {
		return err
	}
	keys := make([]string, 0, len(p.Classes))
	for k := range p.Classes {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := Class(k)
		a := p.Classes[c]
		where := "classes." + k
		if !slices.Contains(Classes, c) {
			return fmt.Errorf("%s: unknown class %q (allowed: %s)", where, k, joinClasses())
		}
		switch a.Action {
		case ActionDone:
			if a.Reason != "" {
				return fmt.Errorf("%s.reason: a done action takes no reason (got %q)", where, a.Reason)
			}
		case ActionRetry, ActionFail:
			if _, err := outbox.ParseReason(string(a.Reason)); err != nil {
				return fmt.Errorf("%s.reason: %w", where, err)
			}
		default:
			return fmt.Errorf("%s.action: got %q, want done, retry or fail", where, a.Action)
		}
		if a.Backoff != nil {
			if a.Action != ActionRetry {
				return fmt.Errorf("%s.backoff: only a retry action takes a backoff", where)
			}
			if err := p.backoffFor(c).validate(where + ".backoff"); err != nil {
				return err
			}
		}
	}
	for _, c := range Classes {
		if _, ok := p.Classes[c]; !ok {
			return fmt.Errorf("classes: class %q has no action", c)
		}
	}
	return nil
}

func joinClasses() string {
	s := make([]string, len(Classes))
	for i, c := range Classes {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// backoffFor is the backoff of class c, unset fields taken from the policy's.
func (p Policy) backoffFor(c Class) Backoff {
	a := p.Classes[c]
	if a.Backoff == nil {
		return p.Backoff
	}
	b := *a.Backoff
	if b.Initial == 0 {
		b.Initial = p.Backoff.Initial
	}
	if b.Max == 0 {
		b.Max = max(p.Backoff.Max, b.Initial)
	}
	if b.Multiplier == 0 {
		b.Multiplier = p.Backoff.Multiplier
	}
	if b.Jitter == 0 {
		b.Jitter = p.Backoff.Jitter
	}
	return b
}
