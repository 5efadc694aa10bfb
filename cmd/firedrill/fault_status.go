package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firedrill/fault"
	"firedrill/fault/httpproxy"
)

type faultTargets struct {
	stateDir, proxy, toxiproxy string
}

func (t *faultTargets) register(c *cobra.Command) {
	stateDirFlag(c, &t.stateDir)
	c.Flags().StringVar(&t.proxy, "proxy", envOr("FIREDRILL_FAULT_PROXY", ""), "admin URL of a fault proxy to include (env FIREDRILL_FAULT_PROXY)")
	c.Flags().StringVar(&t.toxiproxy, "toxiproxy", envOr("FIREDRILL_TOXIPROXY_URL", ""), "Toxiproxy API URL to include (env FIREDRILL_TOXIPROXY_URL)")
}

type statusReport struct {
	Journal   []journalEntry    `json:"journal"`
	Proxy     *httpproxy.Status `json:"proxy,omitempty"`
	Toxiproxy any               `json:"toxiproxy,omitempty"`
}

type journalEntry struct {
	fault.Record
	OwnerAlive bool `json:"owner_alive"`
}

func newFaultStatusCmd(g *globals) *cobra.Command {
	var t faultTargets
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the faults in force: the journal, a fault proxy, Toxiproxy",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			var rep statusReport
			recs, jerr := journalAt(t.stateDir).List()
			for _, r := range recs {
				rep.Journal = append(rep.Journal, journalEntry{Record: r, OwnerAlive: r.Alive()})
			}
			var errs []error
			if jerr != nil {
				errs = append(errs, jerr)
			}
			if t.proxy != "" {
				st, err := httpproxy.Client{Admin: t.proxy}.Status(ctx)
				if err != nil {
					errs = append(errs, err)
				} else {
					rep.Proxy = &st
				}
			}
			if t.toxiproxy != "" {
				tx, err := toxiproxyStatus(ctx, t.toxiproxy)
				if err != nil {
					errs = append(errs, err)
				} else {
					rep.Toxiproxy = tx
				}
			}
			if asJSON {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				fprintf(g.stdout, "%s\n", b)
			} else {
				printStatus(g, rep)
			}
			return errors.Join(errs...)
		},
	}
	t.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printStatus(g *globals, rep statusReport) {
	if len(rep.Journal) == 0 {
		fprintf(g.stdout, "journal: no durable fault in force\n")
	} else {
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fprintf(tw, "ID\tKIND\tTARGET\tOWNER\tSTARTED\tEXPIRES\n")
		for _, e := range rep.Journal {
			owner := fmt.Sprintf("%d (running)", e.OwnerPID)
			if !e.OwnerAlive {
				owner = fmt.Sprintf("%d (gone: reverted at the next fault command or by fault reset)", e.OwnerPID)
			}
			exp := "-"
			if !e.ExpiresAt.IsZero() {
				exp = fmt.Sprintf("%s (%s)", e.ExpiresAt.Format(time.TimeOnly), time.Until(e.ExpiresAt).Round(time.Second))
			}
			fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Kind, e.Target, owner, e.StartedAt.Format(time.TimeOnly), exp)
		}
		_ = tw.Flush()
	}
	if p := rep.Proxy; p != nil {
		if p.Active == nil {
			fprintf(g.stdout, "fault proxy %s → %s: no fault; %d requests\n", p.Listen, p.Upstream, p.Requests)
		} else {
			a := p.Active
			fprintf(g.stdout, "fault proxy %s → %s: %s until %s; matched %d, injected %d\n", p.Listen, p.Upstream,
				a.Spec.Kind, a.ExpiresAt.Format(time.TimeOnly), a.Matched, a.Injected)
		}
	}
	if rep.Toxiproxy != nil {
		b, _ := json.Marshal(rep.Toxiproxy)
		fprintf(g.stdout, "toxiproxy: %s\n", b)
	}
}

func newFaultResetCmd(g *globals) *cobra.Command {
	var t faultTargets
	c := &cobra.Command{
		Use:   "reset",
		Short: "Revert every fault: the journal's (running owners are stopped first), a fault proxy's, Toxiproxy's",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			j := journalAt(t.stateDir)
			errs := []error{stopOwners(ctx, g, j)}
			done, err := j.Recover(ctx, repairers())
			for _, r := range done {
				fprintf(g.stdout, "reverted %s on %s\n", r.Kind, r.Target)
			}
			errs = append(errs, err)
			if t.proxy != "" {
				if err := (httpproxy.Client{Admin: t.proxy}).Stop(ctx); err != nil {
					errs = append(errs, err)
				} else {
					fprintf(g.stdout, "fault proxy %s: no fault in force\n", t.proxy)
				}
			}
			if t.toxiproxy != "" {
				if err := toxiproxyReset(ctx, t.toxiproxy); err != nil {
					errs = append(errs, err)
				} else {
					fprintf(g.stdout, "toxiproxy %s: toxics removed, proxies enabled\n", t.toxiproxy)
				}
			}
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("fault reset: %w", err)
			}
			return nil
		},
	}
	t.register(c)
	return c
}

// stopOwners asks every running owner of a journaled fault to revert it
// (SIGTERM) and waits for its records to go.
func stopOwners(ctx context.Context, g *globals, j fault.Journal) error {
	recs, err := j.List()
	pending := map[string]fault.Record{}
	for _, r := range recs {
		if r.Alive() {
			fprintf(g.stdout, "asking process %d to revert %s on %s\n", r.OwnerPID, r.Kind, r.Target)
			_ = syscall.Kill(r.OwnerPID, syscall.SIGTERM)
			pending[r.ID] = r
		}
	}
	deadline := time.Now().Add(fault.RevertTimeout + 5*time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		left, _ := j.List()
		still := map[string]bool{}
		for _, r := range left {
			still[r.ID] = true
		}
		for id := range pending {
			if !still[id] {
				delete(pending, id)
			}
		}
	}
	for _, r := range pending {
		err = errors.Join(err, fmt.Errorf("process %d did not revert %s on %s; its record stays in %s", r.OwnerPID, r.Kind, r.Target, j.Dir))
	}
	return err
}
