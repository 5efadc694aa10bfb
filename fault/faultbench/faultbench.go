// Package faultbench measures what a fault layer costs when no fault is
// active: the same HTTP traffic sent straight to an engine, through the
// fault proxy and through Toxiproxy, with requests per second and
// per-request latency.
package faultbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Request builds the i-th request of the traffic against base.
type Request func(ctx context.Context, base string, i int) (*http.Request, error)

// Result is one measured run.
type Result struct {
	Requests  int
	Elapsed   time.Duration
	Latencies []time.Duration
}

// PerSecond is the run's throughput.
func (r Result) PerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Client is an HTTP client that keeps conc connections alive.
func Client(conc int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil,
		MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute}}
}

// Drive sends n requests from conc goroutines and records each latency.
// Any non-2xx answer or transport error fails the run.
func Drive(ctx context.Context, hc *http.Client, base string, req Request, n, conc int) (Result, error) {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				r, err := req(ctx, base, i)
				if err == nil {
					t0 := time.Now()
					var resp *http.Response
					if resp, err = hc.Do(r); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						lat[i] = time.Since(t0)
						if resp.StatusCode/100 != 2 {
							err = fmt.Errorf("%s %s: status %d", r.Method, r.URL.Path, resp.StatusCode)
						}
					}
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	res := Result{Requests: n, Elapsed: time.Since(start), Latencies: lat}
	if firstErr != nil {
		return res, firstErr
	}
	return res, ctx.Err()
}

// Percentile returns the q-th percentile (0..1) of ds, nearest rank.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// GetDoc is traffic of small realtime GETs of documents d-0 … d-(docs-1).
func GetDoc(index string, docs int) Request {
	return func(ctx context.Context, base string, i int) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/%s/_doc/d-%d", base, index, i%docs), nil)
	}
}

// Bulk is traffic of _bulk requests of size index actions each (new ids).
func Bulk(index string, size int) Request {
	return func(ctx context.Context, base string, i int) (*http.Request, error) {
		var b bytes.Buffer
		for j := range size {
			fmt.Fprintf(&b, `{"index":{"_index":%q,"_id":"b-%d-%d"}}`+"\n"+`{"title":"bench %d","version":1}`+"\n", index, i, j, j)
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_bulk", &b)
		if err == nil {
			r.Header.Set("Content-Type", "application/x-ndjson")
		}
		return r, err
	}
}
