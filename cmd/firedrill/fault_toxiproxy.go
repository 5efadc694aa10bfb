package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"firedrill/fault"
	"firedrill/fault/tcp"
)

func newFaultToxiproxyCmd(g *globals) *cobra.Command {
	var listen, addrFile string
	var proxies []string
	c := &cobra.Command{
		Use:   "toxiproxy [--proxy NAME=LISTEN=UPSTREAM ...]",
		Short: "Run an embedded Toxiproxy v2.5.0 server for TCP faults",
		Long: `toxiproxy runs the Toxiproxy API (Shopify/toxiproxy v2.5.0) in this process,
so tcp_* faults need no separate binary. Each --proxy creates a proxy at
start: NAME=LISTEN=UPSTREAM, e.g. pg=127.0.0.1:0=127.0.0.1:5432 (port 0
picks a free one; the bound address is printed). Upstreams must be loopback
or listed in FIREDRILL_ALLOW_TARGETS. Stops on SIGINT/SIGTERM; its proxies
and toxics end with it.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			type spec struct{ name, listen, upstream string }
			var specs []spec
			for _, p := range proxies {
				parts := strings.SplitN(p, "=", 3)
				if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
					return usageErr("--proxy %q: want NAME=LISTEN=UPSTREAM, e.g. pg=127.0.0.1:0=127.0.0.1:5432", p)
				}
				if err := fault.CheckTarget(parts[2], fault.AllowedTargets()); err != nil {
					return usageErr("--proxy %s: %v", parts[0], err)
				}
				specs = append(specs, spec{parts[0], parts[1], parts[2]})
			}
			srv, err := tcp.StartServer(ctx, listen)
			if err != nil {
				return usageErr("fault toxiproxy --listen %s: %v (use 127.0.0.1:0 for a free port)", listen, err)
			}
			defer func() { _ = srv.Close() }()
			for _, s := range specs {
				addr, err := tcp.EnsureProxy(ctx, srv.URL(), s.name, s.listen, s.upstream)
				if err != nil {
					return usageErr("--proxy %s: %v", s.name, err)
				}
				fprintf(g.stdout, "proxy %s listening on %s → %s\n", s.name, addr, s.upstream)
			}
			if addrFile != "" {
				if err := writeAddrFile(addrFile, strings.TrimPrefix(srv.URL(), "http://")); err != nil {
					return setupErr("--addr-file", err)
				}
			}
			fprintf(g.stdout, "toxiproxy API on %s\n", srv.URL())
			<-ctx.Done()
			if err := srv.Close(); err != nil {
				return fmt.Errorf("toxiproxy: %w", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "API listen address")
	c.Flags().StringVar(&addrFile, "addr-file", "", "write the API's bound address here")
	c.Flags().StringArrayVar(&proxies, "proxy", nil, "create a proxy NAME=LISTEN=UPSTREAM at start (repeatable)")
	return c
}
