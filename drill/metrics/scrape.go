package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ScrapesFile is the raw scrape log inside the metrics directory.
const ScrapesFile = "scrapes.ndjson"

// acceptHeader asks for the classic text format, the one the TSDB build parses.
const acceptHeader = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// maxBody bounds one scrape's body so a runaway target cannot fill the disk.
const maxBody = 64 << 20

// Target is one scrape target.
type Target struct {
	// Name becomes the job label of every series scraped from the target,
	// e.g. "projector-0" or "fault-proxy".
	Name string
	// URL is the metrics endpoint, e.g. http://127.0.0.1:1234/metrics.
	URL string
}

// record is one line of ScrapesFile; see the package documentation.
type record struct {
	Target      string    `json:"target,omitempty"`
	URL         string    `json:"url,omitempty"`
	T           time.Time `json:"t"`
	Mark        string    `json:"mark,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Body        string    `json:"body,omitempty"`
	Error       string    `json:"error,omitempty"`
	DurationS   float64   `json:"duration_s,omitempty"`

	err error // what Error says, for the caller of ScrapeNow
}

// Scraper scrapes a fixed set of targets and appends every scrape to
// dir/scrapes.ndjson. The periodic loop (Start/Stop), ScrapeNow and Mark may
// run concurrently.
type Scraper struct {
	path     string
	targets  []Target
	interval time.Duration
	timeout  time.Duration
	tr       *http.Transport
	client   *http.Client

	writeMu sync.Mutex // serialises appends to path
	loopErr error      // first write error of the loop, guarded by writeMu

	runMu   sync.Mutex // guards the fields below
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// DefaultInterval is the scrape interval used when NewScraper is given none.
const DefaultInterval = 500 * time.Millisecond

// NewScraper returns a scraper of targets that writes into dir (created on
// first write) and, once started, scrapes every interval (DefaultInterval
// when interval ≤ 0). One request may take twice the interval, and at least
// two seconds.
func NewScraper(dir string, targets []Target, interval time.Duration) *Scraper {
	if interval <= 0 {
		interval = DefaultInterval
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	timeout := max(2*interval, 2*time.Second)
	return &Scraper{
		path:     filepath.Join(dir, ScrapesFile),
		targets:  append([]Target(nil), targets...),
		interval: interval,
		timeout:  timeout,
		tr:       tr,
		client:   &http.Client{Transport: tr},
	}
}

// Start scrapes every target at once and then every interval, in its own
// goroutine, until ctx ends or Stop is called. Calls after the first, or
// after Stop, do nothing.
func (s *Scraper) Start(ctx context.Context) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.started {
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx, s.done)
}

// Stop ends the periodic loop and waits for it. It is idempotent and safe
// when Start was never called; ScrapeNow and Mark still work afterwards.
func (s *Scraper) Stop() {
	s.runMu.Lock()
	s.started = true // a Start after Stop does nothing
	cancel, done := s.cancel, s.done
	s.runMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	s.tr.CloseIdleConnections()
}

// Err returns the first error the periodic loop met writing a scrape, if
// any. Scrape failures are not errors here: they are recorded.
func (s *Scraper) Err() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.loopErr
}

func (s *Scraper) loop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		recs := s.round(ctx, "")
		if ctx.Err() != nil {
			// Stopping cancels requests in flight; that is no gap.
			recs = succeeded(recs)
		}
		if err := s.write(recs...); err != nil {
			s.writeMu.Lock()
			if s.loopErr == nil {
				s.loopErr = err
			}
			s.writeMu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ScrapeNow scrapes every target once, immediately, and records the scrapes
// with mark (e.g. "baseline", "after"). Every scrape is recorded, failed or
// not; the error names each target that failed.
func (s *Scraper) ScrapeNow(ctx context.Context, mark string) error {
	recs := s.round(ctx, mark)
	var errs []error
	for _, r := range recs {
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("scrape %s: %w", r.Target, r.err))
		}
	}
	if err := s.write(recs...); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Mark records the moment t under name (e.g. "fault_start") without
// scraping.
func (s *Scraper) Mark(name string, t time.Time) error {
	if name == "" {
		return errors.New("mark: empty name")
	}
	return s.write(record{T: t.UTC(), Mark: name})
}

// round scrapes all targets concurrently; they share the round's start time.
func (s *Scraper) round(ctx context.Context, mark string) []record {
	t := time.Now().UTC()
	recs := make([]record, len(s.targets))
	var wg sync.WaitGroup
	for i, tg := range s.targets {
		wg.Go(func() {
			start := time.Now()
			ct, body, err := s.fetch(ctx, tg.URL)
			r := record{Target: tg.Name, URL: tg.URL, T: t, Mark: mark, DurationS: time.Since(start).Seconds()}
			if err != nil {
				r.Error, r.err = err.Error(), err
			} else {
				r.ContentType, r.Body = ct, string(body)
			}
			recs[i] = r
		})
	}
	wg.Wait()
	return recs
}

// fetch GETs one target; a non-2xx status is an error.
func (s *Scraper) fetch(ctx context.Context, url string) (contentType string, body []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Accept", acceptHeader)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", nil, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return "", nil, fmt.Errorf("status %s", resp.Status)
	}
	return resp.Header.Get("Content-Type"), body, nil
}

// write appends recs as one write so that concurrent rounds never
// interleave within a line.
func (s *Scraper) write(recs ...record) error {
	if len(recs) == 0 {
		return nil
	}
	var buf []byte
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode scrape: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("record scrape: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("record scrape: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		_ = f.Close()
		return fmt.Errorf("record scrape: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record scrape: %w", err)
	}
	return nil
}

func succeeded(recs []record) []record {
	out := recs[:0]
	for _, r := range recs {
		if r.Error == "" {
			out = append(out, r)
		}
	}
	return out
}
