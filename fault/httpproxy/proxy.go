// Package httpproxy is firedrill's Elasticsearch-aware HTTP fault proxy. It
// sits between the projector and the search engine, forwards everything
// unchanged, and during a fault window injects what the spec asks for:
// whole-request 429s and 5xx answers with Elasticsearch error bodies,
// latency, connection resets, refused connections, lost acknowledgements
// (the write applies, the answer never arrives), and per-item _bulk
// failures: chosen items are cut out of the request before it is forwarded
// (so they are never written) and their 429 or 400 results are put back
// into the upstream's answer at their positions. No library does this, so
// it is written here on net/http and httputil.
//
// Every fault expires by itself at the end of its window. The proxy counts
// each injection (firedrill_fault_injected_total) and can log every bulk
// item it forwarded, for duplicate-write checks.
package httpproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"firedrill/fault"
)

// Config sets up a proxy.
type Config struct {
	// Upstream is the engine's base URL (http or https). Authorization and
	// every other header are passed through unchanged.
	Upstream string
	// CAFile is a PEM bundle to verify an https upstream.
	CAFile string
	// InsecureSkipVerify skips verifying an https upstream (tests only).
	InsecureSkipVerify bool
	// ForwardLog, when set, receives one JSON line per bulk item the proxy
	// forwarded or failed (index, id, op, version, status, fault).
	ForwardLog string
	// Metrics counts injections; nil counts nothing.
	Metrics *fault.Metrics
	// Logger receives one line per fault window; nil discards.
	Logger *slog.Logger
}

// Proxy is a running fault proxy. It is safe for concurrent use.
type Proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
	client *http.Client
	m      *fault.Metrics
	log    *slog.Logger
	flog   *forwardLog

	mu      sync.Mutex
	addr    string
	ln      net.Listener
	srv     *http.Server
	serving sync.WaitGroup
	conns   map[net.Conn]struct{}
	pins    map[net.Conn]*pinned // upstream connection of each client connection
	closed  bool

	active   atomic.Pointer[window]
	history  []WindowStatus
	requests atomic.Int64
}

// window is one fault in force.
type window struct {
	spec     Spec
	sel      *fault.Selector
	started  time.Time
	expires  time.Time
	timer    *time.Timer
	matched  atomic.Int64
	injected atomic.Int64
	picked   atomic.Int64 // items picked, for bulk_item_mixed alternation
}

// New validates cfg and returns a proxy that is not yet listening.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: upstream %q must be an http:// or https:// URL", fault.ErrInvalid, cfg.Upstream)
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	if u.Scheme == "https" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in, tests only
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%w: upstream CA file: %w", fault.ErrInvalid, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: upstream CA file %s holds no PEM certificate", fault.ErrInvalid, cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	p := &Proxy{target: u, m: cfg.Metrics, log: cfg.Logger, conns: map[net.Conn]struct{}{}, pins: map[net.Conn]*pinned{},
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ForwardLog != "" {
		if p.flog, err = openForwardLog(cfg.ForwardLog); err != nil {
			return nil, err
		}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = u.Host },
		Transport:    tr,
		ErrorHandler: p.upstreamError,
		BufferPool:   &bufferPool{},
	}
	return p, nil
}

// Listen starts serving on addr (port 0 picks a free one).
func (p *Proxy) Listen(ctx context.Context, addr string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("fault proxy listen %s: %w", addr, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addr = ln.Addr().String()
	p.serveLocked(ln)
	return nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// URL is the proxy's base URL, for clients.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ConnState: p.trackConn,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			pc := &pinned{}
			p.mu.Lock()
			p.pins[c] = pc
			p.mu.Unlock()
			return context.WithValue(ctx, pinnedKey{}, pc)
		}}
	srv := p.srv
	p.serving.Go(func() { _ = srv.Serve(ln) })
}

func (p *Proxy) trackConn(c net.Conn, st http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch st {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
		if pc := p.pins[c]; pc != nil {
			pc.close()
			delete(p.pins, c)
		}
	}
}

// stopListening closes the listener and every client connection: new
// connections are refused until resumeListening.
func (p *Proxy) stopListening() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return
	}
	_ = p.srv.Close()
	p.ln, p.srv = nil, nil
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// resumeListening listens again on the same address.
func (p *Proxy) resumeListening() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return nil
	}
	var ln net.Listener
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel is
	// still releasing it.
	for range 50 {
		if ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("fault proxy: listen again on %s: %w", p.addr, err)
	}
	p.serveLocked(ln)
	return nil
}

// Close ends any fault and stops serving.
func (p *Proxy) Close() error {
	p.Deactivate()
	p.mu.Lock()
	p.closed = true
	srv := p.srv
	p.ln, p.srv = nil, nil
	p.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	p.serving.Wait()
	if p.flog != nil {
		err = errors.Join(err, p.flog.close())
	}
	return err
}

// ErrActive is returned by Activate while another fault is in force.
var ErrActive = errors.New("a fault is already active on this proxy")

// Activate puts spec in force for its recipe's window; the proxy reverts it
// by itself when the window ends.
func (p *Proxy) Activate(spec Spec) (WindowStatus, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return WindowStatus{}, err
	}
	now := time.Now()
	w := &window{spec: spec, sel: fault.NewSelector(spec.Recipe), started: now, expires: now.Add(spec.Recipe.Duration)}
	w.timer = time.AfterFunc(spec.Recipe.Duration, func() { p.end(w) })
	if !p.active.CompareAndSwap(nil, w) {
		w.timer.Stop()
		return WindowStatus{}, ErrActive
	}
	if time.Now().After(w.expires) { // the timer fired before w was published
		defer p.end(w)
	}
	if spec.Kind == fault.KindHTTPRefuse {
		p.stopListening()
		w.injected.Add(1)
		p.m.Inc(spec.Kind, 1)
	}
	p.log.Info("fault window started", "fault", string(spec.Kind), "duration", spec.Recipe.Duration.String(),
		"match", spec.Recipe.Match.String(), "every_n", spec.Recipe.EveryN, "rate", spec.Recipe.Rate)
	return w.status(), nil
}

// Deactivate ends the fault in force, if any.
func (p *Proxy) Deactivate() {
	if w := p.active.Load(); w != nil {
		p.end(w)
	}
}

func (p *Proxy) end(w *window) {
	if !p.active.CompareAndSwap(w, nil) {
		return
	}
	w.timer.Stop()
	if w.spec.Kind == fault.KindHTTPRefuse {
		if err := p.resumeListening(); err != nil {
			p.log.Error("fault window end: could not listen again", "error", err.Error())
		}
	}
	st := w.status()
	st.EndedAt = time.Now().UTC()
	p.mu.Lock()
	p.history = append(p.history, st)
	if len(p.history) > 20 {
		p.history = p.history[len(p.history)-20:]
	}
	p.mu.Unlock()
	p.log.Info("fault window ended", "fault", string(w.spec.Kind), "matched", st.Matched, "injected", st.Injected)
}

// upstreamError answers a request the upstream could not take. A refused
// or reset upstream connection is passed on as a reset client connection,
// so the client sees what it would see without the proxy (a connection
// error, not a 502).
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		resetConn(w)
		return
	}
	writeESError(w, http.StatusBadGateway, "firedrill_proxy_exception", "upstream: "+err.Error(), 0)
}

// bufferPool recycles the body-copy buffers of the pass-through path (the
// ReverseProxy would allocate 32 KiB per request otherwise).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
