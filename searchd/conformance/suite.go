package conformance

import (
	"net/http"
	"testing"
)

// Target is an engine under test.
type Target struct {
	// Name labels the subtests ("searchd", "opensearch").
	Name string
	// URL is the engine's base URL.
	URL string
	// Searchd enables the checks of searchd's own promises that a real
	// engine answers differently (the X-Elastic-Product header, the 400
	// naming an unsupported endpoint).
	Searchd bool
}

// Case is one conformance check.
type Case struct {
	Name string
	// SearchdOnly marks a check of searchd's own contract.
	SearchdOnly bool
	Run         func(c *client)
}

// Run runs every case against tg, each as its own subtest.
func Run(t *testing.T, tg Target) {
	t.Helper()
	// One probe first: a dead target is one clear failure, not forty.
	probe := newClient(t, tg.URL)
	if r := probe.do(http.MethodGet, "/", nil); r.status != http.StatusOK {
		t.Fatalf("%s at %s: GET / answered %d: %s", tg.Name, tg.URL, r.status, excerpt(r.raw))
	}
	for _, cs := range Cases() {
		t.Run(cs.Name, func(t *testing.T) {
			if cs.SearchdOnly && !tg.Searchd {
				t.Skipf("searchd's own contract; %s answers differently (see docs/searchd.md)", tg.Name)
			}
			c := newClient(t, tg.URL)
			c.searchd = tg.Searchd
			cs.Run(c)
		})
	}
}

// Cases lists the checks, grouped by the part of the REST API they cover.
func Cases() []Case {
	var all []Case
	for _, group := range [][]Case{clusterCases(), indexCases(), bulkCases(), docCases(),
		settingsCases(), searchCases(), aliasCases(), errorCases()} {
		all = append(all, group...)
	}
	return all
}
