package conformance

import (
	"testing"

	"firedrill/search/searchtest"
)

func TestSearchd(t *testing.T) {
	Run(t, Target{Name: "searchd", URL: searchtest.Searchd(t), Searchd: true})
}

func TestOpenSearch(t *testing.T) {
	Run(t, Target{Name: "opensearch", URL: searchtest.OpenSearchURL(t)})
}
