package search

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// hangingServer accepts requests and answers none until the client goes
// away or the test ends. arrived receives one value per request.
func hangingServer(t *testing.T) (url string, arrived <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 8)
	release := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		ch <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv.URL, ch
}

// hijackServer reads each request, lets respond write raw bytes to the
// connection, then closes it; reset makes the close an RST.
func hijackServer(t *testing.T, raw string, reset bool) string {
	t.Helper()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
		if tc, ok := conn.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	})
	return srv.URL
}

func closedListenerURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func TestTransportErrors(t *testing.T) {
	const partial = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"took\":3,\"errors\":false,\"items\":[{\"index\":"
	hangURL, _ := hangingServer(t)
	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		want    ErrorKind
	}{
		{"connection refused", closedListenerURL(t), 0, KindConnect},
		{"server hangs past Timeout", hangURL, 50 * time.Millisecond, KindTimeout},
		{"reset before any byte", hijackServer(t, "", true), 0, KindConnect},
		{"reset mid-body", hijackServer(t, partial, true), 0, KindConnect},
		{"close mid-body (unexpected EOF)", hijackServer(t, partial, false), 0, KindConnect},
		{"close mid-headers", hijackServer(t, "HTTP/1.1 200 OK\r\nContent-Le", false), 0, KindConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{URL: tt.url, Timeout: tt.timeout})
			_, err := c.Bulk(t.Context(), dummyItems(1), "")
			t.Logf("error: %v", err)
			e := asError(t, err)
			if e.Kind != tt.want || e.Op != "bulk" || e.Status != 0 {
				t.Errorf("kind, op, status: got %v, %q, %d, want %v, bulk, 0 (%v)", e.Kind, e.Op, e.Status, tt.want, err)
			}
			if e.Err == nil {
				t.Errorf("Err: got nil, want the transport error")
			}
		})
	}
}

func TestCallerCancelIsNotATimeout(t *testing.T) {
	url, arrived := hangingServer(t)
	c := newClient(t, Config{URL: url})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-arrived
		cancel()
	}()
	_, err := c.Bulk(ctx, dummyItems(1), "")
	<-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want an error wrapping context.Canceled", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("got *Error kind %v, want a plain wrapped cancellation", e.Kind)
	}
}

func TestCallerDeadlineIsATimeout(t *testing.T) {
	url, _ := hangingServer(t)
	c := newClient(t, Config{URL: url})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := c.Info(ctx)
	if e := asError(t, err); e.Kind != KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v (kind %v), want KindTimeout wrapping context.DeadlineExceeded", err, e.Kind)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q): got %s, want %s", tt.header, got, tt.want)
		}
	}
}
