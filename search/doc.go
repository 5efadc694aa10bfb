// Package search is a thin Elasticsearch/OpenSearch REST client for the
// outbox projector and the drill harness.
//
// It is written by hand on net/http on purpose. go-elasticsearch v8 refuses
// any server that does not send "X-Elastic-Product: Elasticsearch", which
// rules out OpenSearch, the engine the drills run against live.
// opensearch-go v4 puts a node pool between the caller and the wire: health
// checks, dead-node resurrection and automatic retries on 502/503/504. In a
// fault drill that layer would swallow or reshape the very failure the drill
// exists to observe. This client sends exactly one HTTP request per call,
// never retries, never follows redirects, and reports every failure as one
// *Error whose Kind (connect, timeout, status, protocol) the caller maps to
// its own retry reason.
//
// A whole-request failure (non-2xx) is an *Error; a bulk request answered
// 200 with "errors": true is not: each ItemResult carries its own status.
// A context cancelled by the caller comes back wrapping context.Canceled and
// is deliberately not an *Error, so shutdown is never counted as an outage.
package search
