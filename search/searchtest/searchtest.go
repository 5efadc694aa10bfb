// Package searchtest gives tests the search engines they run against: an
// in-process searchd node, and the real OpenSearch node that scripts/test
// and .ci/run start (FIREDRILL_TEST_OPENSEARCH_URL).
package searchtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"firedrill/searchd"
)

// OpenSearchURLEnv names the variable holding the test OpenSearch URL.
const OpenSearchURLEnv = "FIREDRILL_TEST_OPENSEARCH_URL"

// OpenSearchURL returns the test OpenSearch URL, skipping (or failing with
// CI=true) when it is unset or the node does not answer.
func OpenSearchURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(OpenSearchURLEnv)
	msg := ""
	if u == "" {
		msg = OpenSearchURLEnv + " is not set"
	} else if err := ping(u); err != nil {
		msg = "OpenSearch at " + OpenSearchURLEnv + " does not answer: " + err.Error()
	}
	if msg != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: OpenSearch tests never skip)", msg)
		}
		t.Skipf("%s; start one with: eval \"$(scripts/opensearch-node start)\"", msg)
	}
	return u
}

func ping(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/_cluster/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.Status}
	}
	return nil
}

type statusError struct{ status string }

func (e *statusError) Error() string { return "GET /_cluster/health answered " + e.status }

// Searchd starts an in-process searchd node on a fresh data directory,
// served on a loopback port, and returns its URL. The node closes when the
// test ends.
func Searchd(t testing.TB) string {
	t.Helper()
	n, err := searchd.Open(searchd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open searchd: %v", err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := n.Close(); err != nil {
			t.Errorf("close searchd: %v", err)
		}
	})
	return srv.URL
}
