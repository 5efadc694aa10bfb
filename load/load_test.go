package load

import (
	"reflect"
	"testing"

	"firedrill/outbox"
)

func TestPlanIsDeterministic(t *testing.T) {
	p := Profile{Entities: 200, Seed: 7, Prefix: "r1-", UpdateRatio: 0.3, DeleteRatio: 0.1}
	a, ca := Plan(p)
	b, cb := Plan(p)
	if !reflect.DeepEqual(a, b) || ca != cb {
		t.Fatal("same profile gave different plans")
	}
	p.Seed = 8
	if c, _ := Plan(p); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same plan")
	}
	if ca.Creates != 200 || ca.Updates < 30 || ca.Updates > 200 || ca.Deletes < 5 || ca.Deletes > 40 {
		t.Fatalf("mix: got %+v, want 200 creates, some updates and deletes", ca)
	}
	if len(a) != ca.Creates+ca.Updates+ca.Deletes {
		t.Fatalf("plan length %d does not match counts %+v", len(a), ca)
	}
	if a[0].EntityID != "r1-000" || a[199].EntityID != "r1-199" {
		t.Fatalf("ids: got %s..%s, want r1-000..r1-199", a[0].EntityID, a[199].EntityID)
	}
	for _, c := range a {
		if err := c.Validate(); err != nil {
			t.Fatalf("invalid change: %v", err)
		}
		if c.Op == outbox.OpDelete && c.EntityType != "" {
			t.Fatal("delete carries an entity type")
		}
	}
}

func TestProfileValidate(t *testing.T) {
	for _, p := range []Profile{{Entities: 0}, {Entities: 1, UpdateRatio: 2}, {Entities: 1, DeleteRatio: -1}} {
		if p.Validate() == nil {
			t.Errorf("%+v: got no error", p)
		}
	}
}
