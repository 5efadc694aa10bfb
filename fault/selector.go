package fault

import (
	"math/rand/v2"
	"sync"
)

// Selector decides, unit by unit (a request or a bulk item), which matching
// units are faulted: every Nth when EveryN is set, else a seeded draw
// against Rate. The same recipe and the same sequence of units always pick
// the same units. It is safe for concurrent use; concurrent callers are
// served in the order they take its lock.
type Selector struct {
	mu     sync.Mutex
	everyN int
	rate   float64
	rnd    *rand.Rand
	seen   int64
	picked int64
}

// NewSelector returns the selector of r.
func NewSelector(r Recipe) *Selector {
	return &Selector{everyN: r.EveryN, rate: r.Rate, rnd: rand.New(rand.NewPCG(r.Seed, r.Seed^0x9e3779b97f4a7c15))}
}

// Next reports whether the next matching unit is faulted.
func (s *Selector) Next() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen++
	var pick bool
	switch {
	case s.everyN > 0:
		pick = s.seen%int64(s.everyN) == 0
	case s.rate >= 1:
		pick = true
	case s.rate <= 0:
		pick = false
	default:
		pick = s.rnd.Float64() < s.rate
	}
	if pick {
		s.picked++
	}
	return pick
}

// Counts returns how many matching units were seen and how many picked.
func (s *Selector) Counts() (seen, picked int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen, s.picked
}
