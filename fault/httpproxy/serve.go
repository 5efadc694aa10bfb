package httpproxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"firedrill/fault"
)

// ServeHTTP forwards r, injecting the active fault where it applies.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	win := p.active.Load()
	if win != nil && time.Now().After(win.expires) {
		p.end(win)
		win = nil
	}
	if win == nil && p.flog == nil {
		p.passThrough(w, r) // the path of all traffic while no fault is active
		return
	}
	isBulk, bulkIndex := bulkPath(r.URL.Path)
	isBulk = isBulk && (r.Method == http.MethodPost || r.Method == http.MethodPut)
	if win == nil || !win.spec.Recipe.Match.Request(r.Method, r.URL.Path) {
		if isBulk && p.flog != nil {
			p.forwardBulk(w, r, bulkIndex, nil)
			return
		}
		p.passThrough(w, r)
		return
	}
	if win.spec.Kind.PerItem() {
		if !isBulk {
			p.passThrough(w, r)
			return
		}
		p.forwardBulk(w, r, bulkIndex, win)
		return
	}
	// A request-level fault narrowed by op, index or projection hits a
	// request that carries a matching item.
	var body []byte
	if m := win.spec.Recipe.Match; m.HasItemKeys() {
		var ok bool
		if body, ok = readBody(w, r); !ok {
			return
		}
		if !requestHasItem(m, r, body, isBulk, bulkIndex) {
			p.forward(w, r, body, isBulk, bulkIndex)
			return
		}
	}
	win.matched.Add(1)
	if !win.sel.Next() {
		p.forward(w, r, body, isBulk, bulkIndex)
		return
	}
	win.injected.Add(1)
	p.m.Inc(win.spec.Kind, 1)
	switch win.spec.Kind {
	case fault.KindHTTP429:
		writeESError(w, http.StatusTooManyRequests, "es_rejected_execution_exception",
			"rejected execution of coordinating operation [firedrill fault injection: http_429]", time.Duration(win.spec.RetryAfter))
	case fault.KindHTTP5xx:
		writeESError(w, win.spec.Status, "firedrill_fault_exception", fmt.Sprintf("firedrill fault injection: http_5xx %d", win.spec.Status), 0)
	case fault.KindHTTPReset:
		resetConn(w)
	case fault.KindHTTPLatency:
		t := time.NewTimer(time.Duration(win.spec.Latency))
		select {
		case <-t.C:
			p.forward(w, r, body, isBulk, bulkIndex)
		case <-r.Context().Done():
			t.Stop()
		}
	case fault.KindAckLost:
		p.ackLost(w, r, body, isBulk, bulkIndex, win.spec.AckLost)
	default:
		p.forward(w, r, body, isBulk, bulkIndex)
	}
}

// forward sends r on: streamed when its body was not read, else buffered
// (a bulk then goes through the forward log).
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte, isBulk bool, bulkIndex string) {
	switch {
	case isBulk && p.flog != nil:
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		p.forwardBulk(w, r, bulkIndex, nil)
	case body != nil:
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		p.passThrough(w, r)
	default:
		p.passThrough(w, r)
	}
}

func requestHasItem(m fault.Match, r *http.Request, body []byte, isBulk bool, bulkIndex string) bool {
	if isBulk {
		items, err := parseBulk(body, bulkIndex)
		if err != nil {
			return false
		}
		for _, it := range items {
			if m.Item(it.op, it.index) {
				return true
			}
		}
		return false
	}
	op, index := docOp(r.Method, r.URL.Path)
	return op != "" && m.Item(op, index)
}

// forwardBulk forwards a _bulk request. With win set (a per-item fault) the
// chosen items are cut out and answered by the proxy; every item forwarded
// or failed goes to the forward log. A body the proxy cannot parse goes
// through untouched.
func (p *Proxy) forwardBulk(w http.ResponseWriter, r *http.Request, bulkIndex string, win *window) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	items, err := parseBulk(body, bulkIndex)
	if err != nil {
		p.passBody(w, r, body)
		return
	}
	synth := map[int]json.RawMessage{}
	var kept []bulkItem
	for i, it := range items {
		if win != nil && win.spec.Recipe.Match.Item(it.op, it.index) {
			win.matched.Add(1)
			if win.sel.Next() {
				status := itemFaultStatus(win)
				synth[i] = synthItem(it, status)
				continue
			}
		}
		kept = append(kept, it)
	}
	if len(synth) > 0 {
		win.injected.Add(int64(len(synth)))
		p.m.Inc(win.spec.Kind, len(synth))
	}
	if len(kept) == 0 {
		out := synthAnswer(synth, len(items))
		p.logItems(items, synth, nil, win)
		writeJSON(w, http.StatusOK, out)
		return
	}
	fwd := body
	if len(synth) > 0 {
		fwd = joinBulk(kept)
	}
	resp, raw, err := p.roundTrip(r, fwd)
	if err != nil {
		p.upstreamError(w, r, err)
		return
	}
	ans, derr := decodeBulkAnswer(raw)
	if resp.status != http.StatusOK || derr != nil {
		// The whole request failed upstream: its answer stands for every item.
		p.logItems(items, nil, nil, nil)
		copyResponse(w, resp, raw)
		return
	}
	p.logItems(items, synth, ans.items, win)
	if len(synth) == 0 {
		copyResponse(w, resp, raw)
		return
	}
	out, err := merge(ans, synth, len(items))
	if err != nil {
		writeESError(w, http.StatusBadGateway, "firedrill_proxy_exception", err.Error(), 0)
		return
	}
	copyResponse(w, resp, out)
}

func itemFaultStatus(win *window) int {
	switch win.spec.Kind {
	case fault.KindBulkItem429:
		return http.StatusTooManyRequests
	case fault.KindBulkItem400:
		return http.StatusBadRequest
	}
	// Mixed: 429, 400, 429, …
	if win.picked.Add(1)%2 == 1 {
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

// ackLost forwards r (the write applies) and then loses the answer.
func (p *Proxy) ackLost(w http.ResponseWriter, r *http.Request, body []byte, isBulk bool, bulkIndex, mode string) {
	if body == nil {
		var ok bool
		if body, ok = readBody(w, r); !ok {
			return
		}
	}
	_, raw, err := p.roundTrip(r, body)
	if err != nil {
		p.upstreamError(w, r, err)
		return
	}
	if isBulk && p.flog != nil {
		if items, err := parseBulk(body, bulkIndex); err == nil {
			var answered []json.RawMessage
			if ans, err := decodeBulkAnswer(raw); err == nil {
				answered = ans.items
			}
			p.logItemsAs(items, answered, string(fault.KindAckLost))
		}
	}
	if mode == "502" {
		writeESError(w, http.StatusBadGateway, "firedrill_fault_exception", "firedrill fault injection: ack_lost (the upstream applied the request)", 0)
		return
	}
	resetConn(w)
}

// upstreamAnswer is a whole answer of the upstream.
type upstreamAnswer struct {
	status int
	header http.Header
}

// roundTrip sends r with body to the upstream and reads the whole answer
// (uncompressed: the proxy may rewrite it).
func (p *Proxy) roundTrip(r *http.Request, body []byte) (upstreamAnswer, []byte, error) {
	u := *p.target
	u.Path = singleJoin(p.target.Path, r.URL.Path)
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return upstreamAnswer{}, nil, err
	}
	for k, vs := range r.Header {
		if hopHeader(k) {
			continue
		}
		out.Header[k] = vs
	}
	out.Header.Del("Accept-Encoding")
	out.Header.Del("Content-Encoding")
	out.ContentLength = int64(len(body))
	resp, err := p.client.Do(out)
	if err != nil {
		return upstreamAnswer{}, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return upstreamAnswer{}, nil, err
	}
	return upstreamAnswer{status: resp.StatusCode, header: resp.Header}, raw, nil
}

func (p *Proxy) passBody(w http.ResponseWriter, r *http.Request, body []byte) {
	resp, raw, err := p.roundTrip(r, body)
	if err != nil {
		p.upstreamError(w, r, err)
		return
	}
	copyResponse(w, resp, raw)
}

func singleJoin(a, b string) string {
	switch {
	case a == "" || a == "/":
		return b
	case a[len(a)-1] == '/' && len(b) > 0 && b[0] == '/':
		return a + b[1:]
	}
	return a + b
}

func hopHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// readBody reads the request body, un-gzipping it; on failure it answers.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeESError(w, http.StatusBadRequest, "parse_exception", "gzip request body: "+err.Error(), 0)
			return nil, false
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		writeESError(w, http.StatusBadRequest, "parse_exception", "read request body: "+err.Error(), 0)
		return nil, false
	}
	r.Header.Del("Content-Encoding")
	return b, true
}

func copyResponse(w http.ResponseWriter, resp upstreamAnswer, body []byte) {
	for k, vs := range resp.header {
		if hopHeader(k) || k == "Content-Length" || k == "Content-Encoding" {
			continue
		}
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeESError answers an Elasticsearch-shaped error.
func writeESError(w http.ResponseWriter, status int, typ, reason string, retryAfter time.Duration) {
	cause := map[string]any{"type": typ, "reason": reason}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason}, "status": status})
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, status, b)
}

// resetConn closes the client connection with a TCP reset.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeESError(w, http.StatusBadGateway, "firedrill_proxy_exception", "connection cannot be reset", 0)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
