package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"firedrill/fault"
	"firedrill/fault/httpproxy"
	"firedrill/telemetry"
)

func newFaultCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "fault",
		Short: "Inject faults: the HTTP fault proxy, inject, status, reset",
		Long: `fault applies the fault layer from the command line. Every fault has a window
and reverts when it ends, on Ctrl-C/SIGTERM, and — for faults that outlive a
crashed process (write block, table lock, stopped process, toxic) — at the
next start of any fault command, from the journal in --state-dir.
See docs/faults.md.`,
	}
	c.AddCommand(newFaultProxyCmd(g), newFaultToxiproxyCmd(g), newFaultInjectCmd(g), newFaultStatusCmd(g), newFaultResetCmd(g))
	return c
}

// stateDirFlag is where the fault journal lives.
func stateDirFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVar(dst, "state-dir", envOr("FIREDRILL_STATE_DIR", defaultStateDir()),
		"directory of the fault journal (env FIREDRILL_STATE_DIR)")
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "firedrill")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "firedrill")
	}
	return filepath.Join(os.TempDir(), "firedrill-state")
}

func journalAt(stateDir string) fault.Journal {
	return fault.Journal{Dir: filepath.Join(stateDir, "faults")}
}

type faultProxyFlags struct {
	listen, admin, upstream       string
	addrFile, adminAddrFile, flog string
	caFile                        string
	insecure                      bool
}

func newFaultProxyCmd(g *globals) *cobra.Command {
	var f faultProxyFlags
	c := &cobra.Command{
		Use:   "proxy",
		Short: "Run the Elasticsearch-aware HTTP fault proxy in front of a search engine",
		Long: `proxy forwards every request to --upstream unchanged (headers, credentials and
TLS to the upstream included) until a fault window is started on its admin
API — by 'firedrill fault inject --proxy ADMIN_URL', or by the drill harness.
The admin API (GET /status, GET /metrics, POST|DELETE /fault) listens on
--admin, apart from the proxied port, so it stays reachable while the proxy
refuses connections. Stops on SIGINT/SIGTERM.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runFaultProxy(c.Context(), g, f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:0", "address clients (the projector) connect to; port 0 picks a free one")
	fl.StringVar(&f.admin, "admin", "127.0.0.1:0", "address of the admin API")
	fl.StringVar(&f.upstream, "upstream", envOr("FIREDRILL_SEARCH_URL", "http://127.0.0.1:9200"), "search engine URL (env FIREDRILL_SEARCH_URL)")
	fl.StringVar(&f.addrFile, "addr-file", "", "write the proxy's bound address here")
	fl.StringVar(&f.adminAddrFile, "admin-addr-file", "", "write the admin API's bound address here")
	fl.StringVar(&f.flog, "forward-log", "", "append one JSON line per bulk item forwarded or failed to this file")
	fl.StringVar(&f.caFile, "upstream-ca-file", os.Getenv("FIREDRILL_SEARCH_CA_FILE"), "PEM CA bundle for an https upstream (env FIREDRILL_SEARCH_CA_FILE)")
	fl.BoolVar(&f.insecure, "upstream-insecure", false, "skip TLS verification of the upstream (tests only)")
	return c
}

func runFaultProxy(ctx context.Context, g *globals, f faultProxyFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := httpproxy.New(httpproxy.Config{Upstream: f.upstream, CAFile: f.caFile, InsecureSkipVerify: f.insecure,
		ForwardLog: f.flog, Metrics: fault.NewMetrics(reg), Logger: log.With("component", "fault-proxy")})
	if err != nil {
		return usageErr("fault proxy: %v", err)
	}
	if err := p.Listen(ctx, f.listen); err != nil {
		_ = p.Close()
		return usageErr("fault proxy --listen: %v (use 127.0.0.1:0 for a free port)", err)
	}
	defer func() { _ = p.Close() }()
	aln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.admin)
	if err != nil {
		return usageErr("fault proxy --admin %s: %v (use 127.0.0.1:0 for a free port)", f.admin, err)
	}
	for file, addr := range map[string]string{f.addrFile: p.Addr(), f.adminAddrFile: aln.Addr().String()} {
		if file == "" {
			continue
		}
		if err := writeAddrFile(file, addr); err != nil {
			_ = aln.Close()
			return setupErr("fault proxy address file", err)
		}
	}
	srv := &http.Server{Handler: p.AdminHandler(reg), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(aln) }()
	fprintf(g.stdout, "fault proxy listening on http://%s → %s; admin on http://%s\n", p.Addr(), telemetry.RedactURL(f.upstream), aln.Addr())
	log.InfoContext(ctx, "fault proxy started", "listen", p.Addr(), "admin", aln.Addr().String(), "upstream", telemetry.RedactURL(f.upstream))
	select {
	case err := <-done:
		return fmt.Errorf("fault proxy admin: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fault proxy admin: %w", err)
	}
	log.InfoContext(ctx, "fault proxy stopped")
	return nil
}
