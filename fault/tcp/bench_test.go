package tcp_test

import (
	"testing"
	"time"

	"firedrill/fault/tcp"
	"firedrill/fault/tcp/tcptest"
)

// BenchmarkApplyRevert measures one fault window's control-plane cost,
// Apply then Revert, per kind, on an embedded Toxiproxy. Toxiproxy dials
// upstreams lazily and nothing dials the proxy, so the upstream is unused.
func BenchmarkApplyRevert(b *testing.B) {
	p := tcptest.Start(b, "127.0.0.1:9")
	for _, k := range tcpKinds {
		b.Run(string(k), func(b *testing.B) {
			inj, err := tcp.New(tcp.Config{API: p.API, Proxy: p.Name, Kind: k, Latency: 100 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				revert, err := inj.Apply(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if err := revert(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
