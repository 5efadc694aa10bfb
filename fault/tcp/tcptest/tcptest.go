// Package tcptest starts a Toxiproxy proxy for one test or benchmark, for
// measuring what a TCP fault does to a client.
package tcptest

import (
	"testing"

	"firedrill/fault/tcp"
)

// ProxyName is the name of the proxy Start creates.
const ProxyName = "tcptest"

// Proxy is a Toxiproxy proxy in front of an upstream, on a Toxiproxy API
// server of its own.
type Proxy struct {
	API  string // the API base URL, for tcp.Config.API
	Name string // the proxy's name, for tcp.Config.Proxy
	Addr string // where clients dial instead of the upstream
}

// Start starts an embedded Toxiproxy with one proxy from a free loopback
// port to upstream (host:port); both are gone when tb ends.
func Start(tb testing.TB, upstream string) Proxy {
	tb.Helper()
	srv, err := tcp.StartServer(tb.Context(), "")
	if err != nil {
		tb.Fatalf("start toxiproxy: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("close toxiproxy: %v", err)
		}
	})
	addr, err := tcp.EnsureProxy(tb.Context(), srv.URL(), ProxyName, "127.0.0.1:0", upstream)
	if err != nil {
		tb.Fatalf("toxiproxy proxy to %s: %v", upstream, err)
	}
	return Proxy{API: srv.URL(), Name: ProxyName, Addr: addr}
}
