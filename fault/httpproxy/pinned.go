package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// pinned is the upstream connection of one client connection. Requests on
// a client connection arrive one at a time (HTTP/1.1), so each goes out on
// the same upstream connection, written and read in the serving goroutine:
// no transport goroutines or channel hand-offs on the path that carries all
// traffic while no fault is active. https upstreams use the transport.
type pinned struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer // kept: Request.Write would allocate one per request
}

type pinnedKey struct{}

func (pc *pinned) close() {
	if pc.c != nil {
		_ = pc.c.Close()
		pc.c, pc.br, pc.bw = nil, nil, nil
	}
}

// passThrough forwards r unchanged.
func (p *Proxy) passThrough(w http.ResponseWriter, r *http.Request) {
	pc, _ := r.Context().Value(pinnedKey{}).(*pinned)
	if pc == nil || p.target.Scheme != "http" {
		p.rp.ServeHTTP(w, r)
		return
	}
	var body []byte
	if r.ContentLength != 0 && r.Body != nil {
		var ok bool
		if body, ok = readBody(w, r); !ok {
			return
		}
	}
	out := &http.Request{Method: r.Method, URL: &url.URL{Path: singleJoin(p.target.Path, r.URL.Path), RawPath: "", RawQuery: r.URL.RawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header, len(r.Header)), Host: p.target.Host,
		ContentLength: int64(len(body))}
	if r.URL.RawPath != "" {
		out.URL.RawPath = singleJoin(p.target.Path, r.URL.RawPath)
	}
	for k, vs := range r.Header {
		if !hopHeader(k) && k != "Expect" {
			out.Header[k] = vs
		}
	}
	var resp *http.Response
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		reused := pc.c != nil
		if !reused {
			if err = p.dialPinned(r.Context(), pc); err != nil {
				break
			}
		}
		resp, err = pc.roundTrip(r.Context(), out, body)
		// An idle upstream connection the engine closed fails before any
		// answer: send again on a fresh one (the body is in memory).
		if err == nil || !reused || !staleConn(err) {
			break
		}
		pc.close()
	}
	if err != nil {
		pc.close()
		p.upstreamError(w, r, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	for k, vs := range resp.Header {
		if !hopHeader(k) {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	buf := p.rp.BufferPool.Get()
	_, cerr := io.CopyBuffer(w, resp.Body, buf)
	p.rp.BufferPool.Put(buf)
	if cerr != nil || resp.Close {
		pc.close()
	}
}

func (p *Proxy) dialPinned(ctx context.Context, pc *pinned) error {
	c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", p.target.Host)
	if err != nil {
		return err
	}
	pc.c, pc.br, pc.bw = c, bufio.NewReaderSize(c, 16<<10), bufio.NewWriterSize(c, 16<<10)
	return nil
}

// roundTrip writes out and reads its answer's head; a client that goes
// away closes the upstream connection to unblock the read.
func (pc *pinned) roundTrip(ctx context.Context, out *http.Request, body []byte) (*http.Response, error) {
	c := pc.c
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	if len(body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(body))
	} else {
		out.Body = nil
	}
	if err := out.Write(pc.bw); err != nil {
		return nil, err
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, err
	}
	return http.ReadResponse(pc.br, out)
}

func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
