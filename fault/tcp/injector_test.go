package tcp_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"firedrill/fault"
	"firedrill/fault/faulttest"
	"firedrill/fault/tcp"
	"firedrill/fault/tcp/tcptest"
)

var tcpKinds = []fault.Kind{fault.KindTCPDown, fault.KindTCPLatency, fault.KindTCPResetPeer, fault.KindTCPTimeout}

// config is a valid Config of kind k on proxy p.
func config(p tcptest.Proxy, k fault.Kind) tcp.Config {
	return tcp.Config{API: p.API, Proxy: p.Name, Kind: k, Latency: 100 * time.Millisecond}
}

func apply(t *testing.T, cfg tcp.Config) fault.Revert {
	t.Helper()
	inj, err := tcp.New(cfg)
	if err != nil {
		t.Fatalf("new %s: %v", cfg.Kind, err)
	}
	revert, err := inj.Apply(ctxT(t))
	if err != nil {
		t.Fatalf("apply %s: %v", cfg.Kind, err)
	}
	return revert
}

// faulted reports what of kind k is in force on the proxy.
func faulted(t *testing.T, p tcptest.Proxy, k fault.Kind) bool {
	t.Helper()
	st := proxyState(t, p.API, p.Name)
	if k == fault.KindTCPDown {
		return !st.Enabled
	}
	return slices.Contains(toxicNames(st), tcp.ToxicName(k))
}

func TestValidate(t *testing.T) {
	ok := tcp.Config{API: "http://127.0.0.1:8474", Proxy: "pg", Kind: fault.KindTCPLatency, Latency: 300 * time.Millisecond}
	for _, tc := range []struct {
		name string
		edit func(c *tcp.Config)
		want string // "" for valid
	}{
		{"valid latency", func(*tcp.Config) {}, ""},
		{"valid down ignores latency", func(c *tcp.Config) { c.Kind, c.Latency = fault.KindTCPDown, 0 }, ""},
		{"valid timeout 0 holds", func(c *tcp.Config) { c.Kind = fault.KindTCPTimeout }, ""},
		{"unknown kind", func(c *tcp.Config) { c.Kind = "tcp_flood" },
			`kind "tcp_flood" is not a TCP fault; allowed: [tcp_down tcp_latency tcp_reset_peer tcp_timeout]`},
		{"http kind", func(c *tcp.Config) { c.Kind = fault.KindHTTP429 }, `kind "http_429" is not a TCP fault`},
		{"no api", func(c *tcp.Config) { c.API = "" }, "api is required: the Toxiproxy API URL"},
		{"no proxy", func(c *tcp.Config) { c.Proxy = "" }, "proxy is required: the name of a Toxiproxy proxy"},
		{"bad proxy name", func(c *tcp.Config) { c.Proxy = "pg/../x" },
			`proxy "pg/../x": want a Toxiproxy proxy name of letters, digits, '.', '_' and '-'`},
		{"no latency", func(c *tcp.Config) { c.Latency = 0 }, "latency of tcp_latency must be at least 1ms, got 0s"},
		{"sub-ms latency", func(c *tcp.Config) { c.Latency = 500 * time.Microsecond }, "latency of tcp_latency must be at least 1ms, got 500µs"},
		{"negative jitter", func(c *tcp.Config) { c.Jitter = -time.Millisecond },
			"jitter of tcp_latency must be between 0 and the latency 300ms, got -1ms"},
		{"jitter over latency", func(c *tcp.Config) { c.Jitter = time.Second },
			"jitter of tcp_latency must be between 0 and the latency 300ms, got 1s"},
		{"sub-ms timeout", func(c *tcp.Config) { c.Kind, c.Timeout = fault.KindTCPTimeout, time.Microsecond },
			"timeout of tcp_timeout must be 0 (hold until reverted) or at least 1ms, got 1µs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tc.want)
			}
			if _, err := tcp.New(c); !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("New: got %v, want ErrInvalid", err)
			}
		})
	}
}

// TestApplyRefusesWhatItCannotTarget proves Apply refuses an unknown
// proxy as invalid input, and a second fault of a kind already in force.
func TestApplyRefusesWhatItCannotTarget(t *testing.T) {
	p := tcptest.Start(t, echoServer(t))
	cfg := config(p, fault.KindTCPLatency)
	cfg.Proxy = "nope"
	inj, err := tcp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inj.Apply(ctxT(t)); !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), `no proxy "nope"`) {
		t.Fatalf("unknown proxy: got %v, want ErrInvalid naming it", err)
	}
	for _, k := range tcpKinds {
		t.Run(string(k), func(t *testing.T) {
			revert := apply(t, config(p, k))
			defer func() { _ = revert(ctxT(t)) }()
			inj, err := tcp.New(config(p, k))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inj.Apply(ctxT(t)); err == nil || !strings.Contains(err.Error(), "a fault in force") {
				t.Fatalf("second %s: got %v, want a refusal", k, err)
			}
			if err := revert(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if faulted(t, p, k) {
				t.Fatalf("%s still in force after the first fault's revert", k)
			}
		})
	}
}

// TestCheckTarget proves a proxy whose upstream is not loopback is
// refused with fault.ErrTargetRefused before anything is journaled,
// applied or counted, and passes once FIREDRILL_ALLOW_TARGETS lists it.
// Toxiproxy dials upstreams lazily, so nothing connects to 10.1.2.3.
func TestCheckTarget(t *testing.T) {
	p := tcptest.Start(t, "10.1.2.3:5432")
	reg := prometheus.NewRegistry()
	j := &fault.Journal{Dir: t.TempDir()}
	cfg := config(p, fault.KindTCPLatency)
	cfg.Metrics, cfg.Journal = fault.NewMetrics(reg), j
	inj, err := tcp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv(fault.AllowTargetsEnv, "")
	if _, err := inj.Apply(ctxT(t)); !errors.Is(err, fault.ErrTargetRefused) || !strings.Contains(err.Error(), "10.1.2.3") {
		t.Fatalf("apply to 10.1.2.3: got %v, want ErrTargetRefused naming the host", err)
	}
	if recs, _ := j.List(); len(recs) != 0 || faulted(t, p, cfg.Kind) || faulttest.Injected(t, reg, cfg.Kind) != 0 {
		t.Fatalf("after a refusal: %d records, toxic %v, %v injected; want none", len(recs), faulted(t, p, cfg.Kind), faulttest.Injected(t, reg, cfg.Kind))
	}

	t.Setenv(fault.AllowTargetsEnv, "10.1.2.3")
	revert, err := inj.Apply(ctxT(t))
	if err != nil {
		t.Fatalf("apply with %s=10.1.2.3: %v", fault.AllowTargetsEnv, err)
	}
	if !faulted(t, p, cfg.Kind) || faulttest.Injected(t, reg, cfg.Kind) != 1 {
		t.Fatalf("allowed target: toxic %v, %v injected; want the toxic and 1", faulted(t, p, cfg.Kind), faulttest.Injected(t, reg, cfg.Kind))
	}
	if err := revert(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestRevertIsIdempotent proves a second revert, or a revert of a fault
// someone else already undid, is not an error and leaves the proxy clean;
// and that a revert after the Toxiproxy is gone (its faults with it) is
// not an error either.
func TestRevertIsIdempotent(t *testing.T) {
	p := tcptest.Start(t, echoServer(t))
	for _, k := range tcpKinds {
		t.Run(string(k), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			cfg := config(p, k)
			cfg.Metrics = fault.NewMetrics(reg)
			revert := apply(t, cfg)
			if !faulted(t, p, k) || faulttest.Injected(t, reg, k) != 1 {
				t.Fatalf("after apply: in force %v, %v injected; want true and 1", faulted(t, p, k), faulttest.Injected(t, reg, k))
			}
			for i := range 2 {
				if err := revert(ctxT(t)); err != nil {
					t.Fatalf("revert #%d: %v", i+1, err)
				}
			}
			if faulted(t, p, k) {
				t.Fatalf("%s in force after revert", k)
			}

			// Undone behind the injector's back.
			revert = apply(t, cfg)
			st := proxyState(t, p.API, p.Name)
			var err error
			if k == fault.KindTCPDown {
				err = st.Enable()
			} else {
				err = st.RemoveToxic(tcp.ToxicName(k))
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := revert(ctxT(t)); err != nil {
				t.Fatalf("revert of a fault already gone: %v", err)
			}
			if err := dialEcho(st.Listen); err != nil {
				t.Fatalf("through the proxy after revert: %v", err)
			}
		})
	}
	t.Run("server gone", func(t *testing.T) {
		srv, err := tcp.StartServer(ctxT(t), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tcp.EnsureProxy(ctxT(t), srv.URL(), "gone", "127.0.0.1:0", echoServer(t)); err != nil {
			t.Fatal(err)
		}
		revert := apply(t, tcp.Config{API: srv.URL(), Proxy: "gone", Kind: fault.KindTCPTimeout})
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if err := revert(ctxT(t)); err != nil {
			t.Fatalf("revert with the Toxiproxy gone: got %v, want nil", err)
		}
	})
}
