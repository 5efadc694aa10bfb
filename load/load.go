// Package load generates a deterministic mix of creates, updates and
// deletes: the same entities, seed and prefix always yield the same changes
// in the same order.
package load

import (
	"fmt"
	"math/rand/v2"

	"firedrill/outbox"
)

// Profile shapes a load.
type Profile struct {
	Entities   int
	Seed       uint64
	Prefix     string // entity ids are Prefix + zero-padded index
	Projection string
	// UpdateRatio is the share of entities updated once or twice after creation.
	UpdateRatio float64
	// DeleteRatio is the share of entities deleted at the end.
	DeleteRatio float64
}

// Validate names the first bad field.
func (p Profile) Validate() error {
	switch {
	case p.Entities < 1:
		return fmt.Errorf("%w: entities: got %d, want ≥ 1", outbox.ErrInvalid, p.Entities)
	case p.UpdateRatio < 0 || p.UpdateRatio > 1:
		return fmt.Errorf("%w: update ratio: got %v, want a fraction in [0, 1]", outbox.ErrInvalid, p.UpdateRatio)
	case p.DeleteRatio < 0 || p.DeleteRatio > 1:
		return fmt.Errorf("%w: delete ratio: got %v, want a fraction in [0, 1]", outbox.ErrInvalid, p.DeleteRatio)
	}
	return nil
}

// Counts tallies a plan.
type Counts struct{ Creates, Updates, Deletes int }

var words = []string{"outbox", "lease", "replica", "shard", "tombstone", "version", "retry", "backoff",
	"index", "alias", "drill", "fault", "ledger", "invoice", "order", "customer", "review", "ticket"}

// Plan returns the changes of p: every entity created in order, then
// updates in a seeded order, then deletes.
func Plan(p Profile) ([]outbox.Change, Counts) {
	rnd := rand.New(rand.NewPCG(p.Seed, 0x5eed))
	width := len(fmt.Sprint(p.Entities - 1))
	id := func(i int) string { return fmt.Sprintf("%s%0*d", p.Prefix, width, i) }
	types := []string{"note", "article", "product"}
	text := func(n int) string {
		s := ""
		for i := range n {
			if i > 0 {
				s += " "
			}
			s += words[rnd.IntN(len(words))]
		}
		return s
	}
	var out []outbox.Change
	var c Counts
	for i := range p.Entities {
		out = append(out, outbox.Change{EntityID: id(i), EntityType: types[i%len(types)], Title: text(3),
			Body: text(12), Op: outbox.OpUpsert, Projection: p.Projection})
		c.Creates++
	}
	for _, i := range rnd.Perm(p.Entities) {
		if rnd.Float64() >= p.UpdateRatio {
			continue
		}
		for range 1 + rnd.IntN(2) {
			out = append(out, outbox.Change{EntityID: id(i), EntityType: types[i%len(types)], Title: text(3),
				Body: text(12), Op: outbox.OpUpsert, Projection: p.Projection})
			c.Updates++
		}
	}
	for _, i := range rnd.Perm(p.Entities) {
		if rnd.Float64() < p.DeleteRatio {
			out = append(out, outbox.Change{EntityID: id(i), Op: outbox.OpDelete, Projection: p.Projection})
			c.Deletes++
		}
	}
	return out, c
}
