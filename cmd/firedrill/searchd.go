package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firedrill/searchd"
)

type searchdFlags struct {
	dataDir  string
	addr     string
	addrFile string
}

func newSearchdCmd(g *globals) *cobra.Command {
	var sf searchdFlags
	c := &cobra.Command{
		Use:   "searchd",
		Short: "Run the embedded search node (Elasticsearch REST subset on Bleve)",
		Long: `searchd serves the part of the Elasticsearch REST API the projector and the
drills use (_bulk with external versions, _doc, _mget, _search, _count,
_refresh, index settings incl. index.blocks.write, aliases) from a data
directory that survives restarts. See docs/searchd.md.

It prints "searchd listening on http://ADDR" once it accepts connections,
and stops cleanly on SIGINT or SIGTERM.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runSearchd(c.Context(), g, sf) },
	}
	f := c.Flags()
	f.StringVar(&sf.dataDir, "data", envOr("FIREDRILL_SEARCHD_DATA", ""), "data directory (required; created when missing) (env FIREDRILL_SEARCHD_DATA)")
	f.StringVar(&sf.addr, "addr", "127.0.0.1:9200", "listen address; port 0 picks a free one")
	f.StringVar(&sf.addrFile, "addr-file", "", "write the bound address to this file (atomically) once listening")
	return c
}

func runSearchd(ctx context.Context, g *globals, sf searchdFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	if strings.TrimSpace(sf.dataDir) == "" {
		return usageErr("searchd: --data is required")
	}
	if st, err := os.Stat(sf.dataDir); err == nil && !st.IsDir() {
		return usageErr("searchd: --data %s is not a directory", sf.dataDir)
	}
	node, err := searchd.Open(searchd.Config{DataDir: sf.dataDir, Logger: log.With("component", "searchd")})
	if err != nil {
		return setupErr("searchd --data "+sf.dataDir, err)
	}
	defer func() {
		if cerr := node.Close(); cerr != nil {
			log.Error("closing searchd node failed", "error", cerr.Error())
		}
	}()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", sf.addr)
	if err != nil {
		return usageErr("searchd --addr %s: %v (use 127.0.0.1:0 for a free port)", sf.addr, err)
	}
	addr := ln.Addr().String()
	if sf.addrFile != "" {
		if err := writeAddrFile(sf.addrFile, addr); err != nil {
			_ = ln.Close()
			return setupErr("searchd --addr-file", err)
		}
	}
	srv := &http.Server{Handler: node.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fprintf(g.stdout, "searchd listening on http://%s\n", addr)
	log.InfoContext(ctx, "searchd listening", "addr", addr, "data", sf.dataDir)
	select {
	case err := <-done:
		return fmt.Errorf("searchd: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.WarnContext(ctx, "searchd: requests still running at shutdown", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("searchd: serve: %w", err)
	}
	log.InfoContext(ctx, "searchd stopped", "addr", addr)
	return nil
}

// writeAddrFile writes addr to path via a temporary file and a rename, so
// a reader polling path never sees a partial address.
func writeAddrFile(path, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(addr + "\n"); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}
