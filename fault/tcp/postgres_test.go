package tcp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"firedrill/fault"
	"firedrill/fault/tcp"
	"firedrill/fault/tcp/tcptest"
	"firedrill/outbox/outboxtest"
)

// pgProxy is a Toxiproxy proxy in front of the test PostgreSQL.
type pgProxy struct {
	tcptest.Proxy
	cfg *pgx.ConnConfig // dials the proxy
}

func startPG(t *testing.T) pgProxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(outboxtest.PGURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", outboxtest.PGURLEnv, err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		t.Fatalf("%s must reach PostgreSQL over TCP, got the socket %s", outboxtest.PGURLEnv, cfg.Host)
	}
	p := tcptest.Start(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	host, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = host, uint16(n)
	for _, fb := range cfg.Fallbacks {
		fb.Host, fb.Port = host, uint16(n)
	}
	cfg.ConnectTimeout = 5 * time.Second
	return pgProxy{Proxy: p, cfg: cfg}
}

func (pp pgProxy) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, pp.cfg.Copy())
}

func (pp pgProxy) mustConnect(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pp.connect(ctxT(t))
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func selectOne(ctx context.Context, c *pgx.Conn) error {
	var n int
	if err := c.QueryRow(ctx, "select 1").Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return errors.New("select 1: got " + strconv.Itoa(n))
	}
	return nil
}

// roundTrip times one select 1 on c.
func roundTrip(t *testing.T, c *pgx.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	if err := selectOne(ctxT(t), c); err != nil {
		t.Fatalf("select 1: %v", err)
	}
	return time.Since(start)
}

// connectAndSelect opens a connection, runs select 1 and closes it.
func (pp pgProxy) connectAndSelect(ctx context.Context) error {
	c, err := pp.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return selectOne(ctx, c)
}

// cutShort reports whether err is the connection ending under the client:
// reset (RST) or closed (EOF).
func cutShort(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func timedOut(err error) bool {
	return pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)
}

// within runs fn with a context that ends after d.
func within(t *testing.T, d time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	return fn(ctx)
}

// TestFaultsOnPostgres applies each kind to a proxy in front of the real
// test PostgreSQL and checks what a pgx client sees while it is in force,
// then that after the revert a new connection works again.
func TestFaultsOnPostgres(t *testing.T) {
	pp := startPG(t)
	if err := pp.connectAndSelect(ctxT(t)); err != nil {
		t.Fatalf("select 1 through the proxy without a fault: %v", err)
	}
	const latency = 300 * time.Millisecond
	cases := []struct {
		name string
		cfg  tcp.Config
		// during checks the fault's effect; open was connected before it.
		during func(t *testing.T, open *pgx.Conn)
		// after checks open after the revert (nil: open is not reused).
		after func(t *testing.T, open *pgx.Conn)
	}{
		{"tcp_down refuses and cuts", tcp.Config{Kind: fault.KindTCPDown},
			func(t *testing.T, open *pgx.Conn) {
				if err := within(t, 5*time.Second, func(ctx context.Context) error { return selectOne(ctx, open) }); err == nil {
					t.Error("query on an open connection: got nil, want it cut")
				}
				err := within(t, 5*time.Second, pp.connectAndSelect)
				if err == nil || !strings.Contains(err.Error(), "connection refused") {
					t.Errorf("new connection: got %v, want connection refused", err)
				}
			}, nil},
		{"tcp_latency delays answers", tcp.Config{Kind: fault.KindTCPLatency, Latency: latency},
			func(t *testing.T, open *pgx.Conn) {
				if d := roundTrip(t, open); d < latency {
					t.Errorf("round trip under %v latency: got %v, want >= %v", latency, d, latency)
				}
			},
			func(t *testing.T, open *pgx.Conn) {
				if d := roundTrip(t, open); d >= latency {
					t.Errorf("round trip after revert: got %v, want < %v", d, latency)
				}
			}},
		{"tcp_reset_peer resets", tcp.Config{Kind: fault.KindTCPResetPeer},
			func(t *testing.T, open *pgx.Conn) {
				err := within(t, 5*time.Second, func(ctx context.Context) error { return selectOne(ctx, open) })
				if !cutShort(err) {
					t.Errorf("query on an open connection: got %v, want reset or EOF", err)
				}
				err = within(t, 5*time.Second, pp.connectAndSelect)
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("new connection: got %v, want connection reset by peer", err)
				}
			}, nil},
		{"tcp_timeout holds", tcp.Config{Kind: fault.KindTCPTimeout},
			func(t *testing.T, open *pgx.Conn) {
				err := within(t, time.Second, func(ctx context.Context) error { return selectOne(ctx, open) })
				if !timedOut(err) {
					t.Errorf("query with a 1s deadline: got %v, want a timeout", err)
				}
				if err := within(t, time.Second, pp.connectAndSelect); !timedOut(err) {
					t.Errorf("new connection with a 1s deadline: got %v, want a timeout", err)
				}
			}, nil},
		{"tcp_timeout 200ms closes", tcp.Config{Kind: fault.KindTCPTimeout, Timeout: 200 * time.Millisecond},
			func(t *testing.T, open *pgx.Conn) {
				err := within(t, 10*time.Second, func(ctx context.Context) error { return selectOne(ctx, open) })
				if !cutShort(err) || timedOut(err) {
					t.Errorf("query with a 10s deadline: got %v, want EOF well before the deadline", err)
				}
			}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			open := pp.mustConnect(t)
			if err := selectOne(ctxT(t), open); err != nil { // also prepares select 1
				t.Fatal(err)
			}
			cfg := tc.cfg
			cfg.API, cfg.Proxy = pp.API, pp.Name
			revert := apply(t, cfg)
			tc.during(t, open)
			if err := revert(ctxT(t)); err != nil {
				t.Fatalf("revert: %v", err)
			}
			if err := pp.connectAndSelect(ctxT(t)); err != nil {
				t.Fatalf("new connection after revert: %v", err)
			}
			if tc.after != nil {
				tc.after(t, open)
			}
		})
	}
}
