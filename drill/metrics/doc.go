// Package metrics records a drill run's Prometheus metrics and answers
// PromQL over them afterwards, offline, with Prometheus's own engine.
//
// During a run a [Scraper] fetches every component's /metrics endpoint (the
// text exposition format) every interval and appends what it saw to the
// bundle's _metrics directory. That file is the source of truth; [Open]
// rebuilds a Prometheus TSDB from it under _metrics/tsdb and evaluates
// queries over that TSDB, so verify can be re-run on any old bundle.
//
// # Raw format
//
// _metrics/scrapes.ndjson holds one JSON object per line, appended in the
// order the scraper finished writing them:
//
//	{"target":"projector-0","url":"http://127.0.0.1:1234/metrics","t":"2025-01-02T03:04:05.123456789Z","mark":"baseline","content_type":"text/plain; version=0.0.4","body":"# HELP ...","duration_s":0.003}
//	{"target":"fault-proxy","url":"http://127.0.0.1:4321/metrics","t":"2025-01-02T03:04:05.623456789Z","error":"Get \"http://127.0.0.1:4321/metrics\": dial tcp 127.0.0.1:4321: connect: connection refused","duration_s":0.001}
//	{"t":"2025-01-02T03:04:06Z","mark":"fault_start"}
//
// The fields:
//
//   - target, url: the scrape target; absent on a mark-only line.
//   - t: RFC 3339 with nanoseconds, UTC. Every target scraped in one round
//     (one tick of the loop or one ScrapeNow) shares the round's start time,
//     which is the timestamp of all its samples; exposition timestamps are
//     ignored.
//   - mark: the name given to ScrapeNow or Mark; empty for periodic scrapes.
//   - content_type, body: the response as received; on success only.
//   - error: why the scrape failed (connection, non-2xx status, timeout).
//     A failed scrape is kept: a gap is evidence.
//   - duration_s: how long the request took.
//
// # TSDB
//
// [Open] stores what a Prometheus server scraping the targets with
// honor_labels: false would: every sample gets job="<target>" (an exposed
// job label becomes exported_job; no instance label is added), classic
// histograms and summaries are plain float series (_bucket, _sum, _count),
// every scrape adds up{job} (1 or 0), and a series that vanishes from a
// target's scrape, or whose target failed, gets a staleness marker. A body
// that does not parse counts as a failed scrape. Records are applied in
// time order (ties: marked scrapes first, then file order) and a series
// keeps the first sample of any millisecond, so the same file always builds
// the same database.
package metrics
