package tcp_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"firedrill/fault"
	"firedrill/fault/tcp"
)

// TestServerCloseStopsProxies proves Close takes the API and every proxy
// down: the API and the proxy refuse connections, an open proxied
// connection is cut, and a second Close is harmless.
func TestServerCloseStopsProxies(t *testing.T) {
	ctx := ctxT(t)
	srv, err := tcp.StartServer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") || strings.HasSuffix(srv.URL(), ":0") {
		t.Fatalf("URL: got %s, want http://127.0.0.1:PORT", srv.URL())
	}
	addr, err := tcp.EnsureProxy(ctx, srv.URL(), "echo", "127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	open, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := echo(open, "before"); err != nil {
		t.Fatalf("through the proxy before Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := echo(open, "after"); err == nil {
		t.Fatal("an open connection still works after Close, want it cut")
	}
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial the proxy after Close: got %v, want connection refused", err)
	}
	resp, err := http.Get(srv.URL() + "/version")
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("API after Close: got %v, want connection refused", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second close: got %v, want nil", err)
	}
}

// TestServerEndsWithContext proves the server stops when the context it
// was started with ends.
func TestServerEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := tcp.StartServer(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get(srv.URL() + "/version")
	if err != nil {
		t.Fatalf("API: %v", err)
	}
	_ = resp.Body.Close()
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.URL() + "/version")
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if err == nil {
			_ = resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("API 10s after its context ended: got %v, want connection refused", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close after the context ended: got %v, want nil", err)
	}
}

// TestEnsureProxy proves EnsureProxy creates a proxy on a port Toxiproxy
// picks, keeps an existing one, moves one to a new upstream, and refuses
// bad input.
func TestEnsureProxy(t *testing.T) {
	ctx := ctxT(t)
	srv, err := tcp.StartServer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	up1, up2 := echoServer(t), echoServer(t)

	addr, err := tcp.EnsureProxy(ctx, srv.URL(), "p", "127.0.0.1:0", up1)
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(addr); port == "0" || port == "" {
		t.Fatalf("listen address: got %s, want the port Toxiproxy bound", addr)
	}
	if err := dialEcho(addr); err != nil {
		t.Fatalf("through the new proxy: %v", err)
	}
	again, err := tcp.EnsureProxy(ctx, srv.URL()+"/", "p", "127.0.0.1:0", up1)
	if err != nil || again != addr {
		t.Fatalf("ensure again: got %s, %v; want the same %s", again, err, addr)
	}
	moved, err := tcp.EnsureProxy(ctx, srv.URL(), "p", addr, up2)
	if err != nil || moved != addr {
		t.Fatalf("ensure with another upstream: got %s, %v; want %s", moved, err, addr)
	}
	if got := proxyState(t, srv.URL(), "p").Upstream; got != up2 {
		t.Fatalf("upstream after the move: got %s, want %s", got, up2)
	}
	if err := dialEcho(moved); err != nil {
		t.Fatalf("through the moved proxy: %v", err)
	}

	for _, tc := range []struct{ name, proxy, listen, upstream, want string }{
		{"proxy name", "a/b", "127.0.0.1:0", up1, `proxy "a/b": want a Toxiproxy proxy name`},
		{"listen", "q", "127.0.0.1", up1, `listen "127.0.0.1": want host:port`},
		{"upstream", "q", "127.0.0.1:0", "db", `upstream "db": want host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tcp.EnsureProxy(ctx, srv.URL(), tc.proxy, tc.listen, tc.upstream)
			if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}
