// Package tcp injects TCP faults through Toxiproxy: it disables a proxy
// (tcp_down) or adds a latency, reset_peer or timeout toxic to it. It can
// run a Toxiproxy API server in this process (StartServer) or drive one
// elsewhere through its HTTP API. A disabled proxy or a toxic outlives the
// process that made it, so faults are journaled before they are applied
// and Repair reverts what a crashed process left.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"firedrill/fault"
)

// kinds are the kinds this package injects.
var kinds = []fault.Kind{fault.KindTCPDown, fault.KindTCPLatency, fault.KindTCPResetPeer, fault.KindTCPTimeout}

// Handles reports whether this package injects kind k.
func Handles(k fault.Kind) bool { return slices.Contains(kinds, k) }

// toxicTypes maps each toxic kind to its Toxiproxy toxic type; tcp_down
// has no toxic.
var toxicTypes = map[fault.Kind]string{
	fault.KindTCPLatency:   "latency",
	fault.KindTCPResetPeer: "reset_peer",
	fault.KindTCPTimeout:   "timeout",
}

// toxicStream is the direction every toxic acts on: the upstream's
// answers.
const toxicStream = "downstream"

// ToxicName is the name of the toxic kind k adds: fixed, so a second fault
// of a kind on a proxy is refused and a stale one is found by name.
func ToxicName(k fault.Kind) string { return "firedrill-" + string(k) }

// Config configures an Injector.
type Config struct {
	// API is the Toxiproxy API base URL, e.g. http://127.0.0.1:8474.
	API string
	// Proxy names the Toxiproxy proxy to fault.
	Proxy string
	// Kind is tcp_down, tcp_latency, tcp_reset_peer or tcp_timeout.
	Kind fault.Kind
	// Latency and Jitter shape tcp_latency: each chunk of the upstream's
	// answers waits Latency ± Jitter (whole milliseconds).
	Latency, Jitter time.Duration
	// Timeout is when tcp_timeout closes a connection whose data it stops:
	// 0 holds it until the fault is reverted (whole milliseconds).
	Timeout time.Duration
	// Metrics counts the injection (nil counts nothing).
	Metrics *fault.Metrics
	// Journal, when set, records the fault before it is applied.
	Journal *fault.Journal
}

// Validate names the first problem of c.
func (c Config) Validate() error {
	switch {
	case !Handles(c.Kind):
		return fmt.Errorf("%w: kind %q is not a TCP fault; allowed: %v", fault.ErrInvalid, c.Kind, kinds)
	case c.API == "":
		return fmt.Errorf("%w: api is required: the Toxiproxy API URL, e.g. http://127.0.0.1:8474", fault.ErrInvalid)
	case c.Proxy == "":
		return fmt.Errorf("%w: proxy is required: the name of a Toxiproxy proxy", fault.ErrInvalid)
	}
	if err := checkProxyName(c.Proxy); err != nil {
		return err
	}
	switch c.Kind {
	case fault.KindTCPLatency:
		if c.Latency < time.Millisecond {
			return fmt.Errorf("%w: latency of %s must be at least 1ms, got %v", fault.ErrInvalid, c.Kind, c.Latency)
		}
		if c.Jitter < 0 || c.Jitter > c.Latency {
			return fmt.Errorf("%w: jitter of %s must be between 0 and the latency %v, got %v", fault.ErrInvalid, c.Kind, c.Latency, c.Jitter)
		}
	case fault.KindTCPTimeout:
		if c.Timeout != 0 && c.Timeout < time.Millisecond {
			return fmt.Errorf("%w: timeout of %s must be 0 (hold until reverted) or at least 1ms, got %v", fault.ErrInvalid, c.Kind, c.Timeout)
		}
	}
	return nil
}

// Injector applies one TCP fault to a Toxiproxy proxy.
type Injector struct {
	cfg Config
}

var _ fault.Injector = (*Injector)(nil)

// New returns an injector of cfg, once cfg is valid.
func New(cfg Config) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Injector{cfg: cfg}, nil
}

// Apply puts the fault in force. It refuses a proxy whose upstream is not
// an allowed target (fault.ErrTargetRefused), and a proxy that already
// carries this kind of fault. With a Journal the fault is recorded first;
// the Revert removes the record once the fault is undone.
func (in *Injector) Apply(ctx context.Context) (fault.Revert, error) {
	cfg := in.cfg
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := newClient(cfg.API)
	p, found, err := lookup(ctx, c, cfg.Proxy)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy %s: %w", cfg.API, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: toxiproxy %s has no proxy %q", fault.ErrInvalid, cfg.API, cfg.Proxy)
	}
	target := "toxiproxy proxy " + cfg.Proxy + " → " + p.Upstream
	if err := fault.CheckTarget(p.Upstream, fault.AllowedTargets()); err != nil {
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	toxic := ""
	if cfg.Kind == fault.KindTCPDown {
		if !p.Enabled {
			return nil, fmt.Errorf("%s: already disabled (a fault in force, or one a crashed process left)", target)
		}
	} else {
		toxic = ToxicName(cfg.Kind)
		if hasToxic(p, toxic) {
			return nil, fmt.Errorf("%s: toxic %s already present (a fault in force, or one a crashed process left)", target, toxic)
		}
	}
	unjournal := func() error { return nil }
	if cfg.Journal != nil {
		data := map[string]string{"api": cfg.API, "proxy": cfg.Proxy}
		if toxic != "" {
			data["toxic"] = toxic
		}
		_, rm, err := cfg.Journal.Add(fault.Record{Kind: cfg.Kind, Target: target, Data: data})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", target, err)
		}
		unjournal = rm
	}
	revert := newRevert(c, cfg.Proxy, cfg.Kind, toxic, target, unjournal)
	if err := ctx.Err(); err != nil {
		return nil, errors.Join(err, cleanup(ctx, revert))
	}
	if err := inject(p, cfg, toxic); err != nil {
		return nil, errors.Join(fmt.Errorf("%s: apply %s: %w", target, cfg.Kind, err), cleanup(ctx, revert))
	}
	cfg.Metrics.Inc(cfg.Kind, 1)
	return revert, nil
}

// cleanup undoes whatever part of a failed apply took effect.
func cleanup(ctx context.Context, revert fault.Revert) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fault.RevertTimeout)
	defer cancel()
	return revert(rctx)
}

func inject(p *toxiclient.Proxy, cfg Config, toxic string) error {
	var attrs toxiclient.Attributes
	switch cfg.Kind {
	case fault.KindTCPDown:
		// The listener closes: new connections are refused, open ones cut.
		return p.Disable()
	case fault.KindTCPLatency:
		attrs = toxiclient.Attributes{"latency": cfg.Latency.Milliseconds(), "jitter": cfg.Jitter.Milliseconds()}
	case fault.KindTCPResetPeer:
		attrs = toxiclient.Attributes{"timeout": 0}
	case fault.KindTCPTimeout:
		attrs = toxiclient.Attributes{"timeout": cfg.Timeout.Milliseconds()}
	}
	_, err := p.AddToxic(toxic, toxicTypes[cfg.Kind], toxicStream, 1, attrs)
	return err
}

// newRevert undoes the fault once: after a revert that worked, another
// call does nothing (so it never undoes a later fault of someone else).
func newRevert(c *toxiclient.Client, proxy string, kind fault.Kind, toxic, target string, unjournal func() error) fault.Revert {
	var mu sync.Mutex
	done := false
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return nil
		}
		if err := undo(ctx, c, proxy, kind, toxic); err != nil {
			return fmt.Errorf("%s: revert %s: %w", target, kind, err)
		}
		if err := unjournal(); err != nil {
			return err
		}
		done = true
		return nil
	}
}

// undo reverts a fault of kind on proxy; a fault already gone is not an
// error.
func undo(ctx context.Context, c *toxiclient.Client, proxy string, kind fault.Kind, toxic string) error {
	p, found, err := lookup(ctx, c, proxy)
	switch {
	case err != nil && refused(err), err == nil && !found:
		return nil // no Toxiproxy there, or no such proxy: no fault either
	case err != nil:
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if kind == fault.KindTCPDown {
		if p.Enabled {
			return nil
		}
		if err := p.Enable(); err != nil {
			return fmt.Errorf("enable proxy: %w", err)
		}
		return nil
	}
	if !hasToxic(p, toxic) {
		return nil
	}
	if err := p.RemoveToxic(toxic); err != nil {
		// Removed by someone else in between?
		if q, found, lerr := lookup(ctx, c, proxy); lerr == nil && (!found || !hasToxic(q, toxic)) {
			return nil
		}
		return fmt.Errorf("remove toxic %s: %w", toxic, err)
	}
	return nil
}

func hasToxic(p *toxiclient.Proxy, name string) bool {
	return slices.ContainsFunc(p.ActiveToxics, func(t toxiclient.Toxic) bool { return t.Name == name })
}

// Repair reverts the fault of a stale journal record from its data alone:
// it enables the proxy (tcp_down) or removes the toxic (the other kinds).
// Only the record's own kind is undone, so a live fault of another kind
// on the same proxy stays. A Toxiproxy that no longer runs, or no longer
// has the proxy, holds no fault: that counts as repaired.
func Repair(ctx context.Context, r fault.Record) error {
	if !Handles(r.Kind) {
		return fmt.Errorf("%w: kind %q is not a TCP fault; allowed: %v", fault.ErrInvalid, r.Kind, kinds)
	}
	api, proxy, toxic := r.Data["api"], r.Data["proxy"], r.Data["toxic"]
	if api == "" || proxy == "" {
		return fmt.Errorf("%w: record %s lacks data api and proxy", fault.ErrInvalid, r.ID)
	}
	if toxic == "" && r.Kind != fault.KindTCPDown {
		toxic = ToxicName(r.Kind)
	}
	if err := undo(ctx, newClient(api), proxy, r.Kind, toxic); err != nil {
		return fmt.Errorf("toxiproxy %s proxy %s: %w", api, proxy, err)
	}
	return nil
}
