// Package writeblock injects write_block: it sets index.blocks.write=true
// on an index (a name, a comma-separated list or a pattern, as the engine
// resolves it) for the fault's window, so every write to it is answered
// 403 cluster_block_exception, and resets the setting to its default
// (null) on revert. The engine URL must pass fault.CheckTarget.
//
// The block outlives the process that set it, so it is journaled before it
// is set, with Data {"url" (without credentials), "index", and when the
// engine needs them "username", "auth" ("api_key"), "ca_file",
// "insecure_skip_verify"}. Repair resets the block from that record,
// taking the secret from the environment at repair time:
// FIREDRILL_SEARCH_PASSWORD for the journaled username, or
// FIREDRILL_SEARCH_API_KEY. Secrets are never journaled.
//
// Revert resets the setting rather than restoring a previous value: an
// index that was write-blocked before the fault is unblocked by its revert.
package writeblock

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"firedrill/fault"
	"firedrill/search"
)

// The environment variables Repair reads the engine's secret from.
const (
	PasswordEnv = "FIREDRILL_SEARCH_PASSWORD"
	APIKeyEnv   = "FIREDRILL_SEARCH_API_KEY"
)

// setting is the index setting the fault toggles.
const setting = "index.blocks.write"

// Config says which index of which engine to block.
type Config struct {
	// Search is the engine, with its credentials.
	Search search.Config
	// Index is the index to block: a name, an alias, a comma-separated
	// list or a pattern (logs-*). "_all" and "*" are refused.
	Index string
	// Metrics counts injections; nil counts nothing.
	Metrics *fault.Metrics
	// Journal, when set, records the block before it is set.
	Journal *fault.Journal
}

// Validate names the first problem of c.
func (c Config) Validate() error {
	if c.Index == "" {
		return fmt.Errorf("%w: Index is required: name the index (or a comma list or pattern) to write-block", fault.ErrInvalid)
	}
	for _, part := range strings.Split(c.Index, ",") {
		switch {
		case part == "":
			return fmt.Errorf("%w: Index %q has an empty name in its comma list", fault.ErrInvalid, c.Index)
		case part == "_all" || strings.Trim(part, "*") == "":
			return fmt.Errorf("%w: Index %q would block every index: name the index or a narrower pattern", fault.ErrInvalid, c.Index)
		case strings.ContainsAny(part, " \"\\/?#<>|"):
			return fmt.Errorf("%w: Index %q: %q is not an index name (no spaces or any of \" \\ / ? # < > |)", fault.ErrInvalid, c.Index, part)
		}
	}
	if _, err := search.New(c.Search); err != nil {
		return fmt.Errorf("%w: Search: %w", fault.ErrInvalid, err)
	}
	return nil
}

// Injector write-blocks one index expression.
type Injector struct {
	cfg Config
}

var _ fault.Injector = (*Injector)(nil)

// New validates cfg and returns its injector. No request is sent.
func New(cfg Config) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Injector{cfg: cfg}, nil
}

// Apply sets index.blocks.write=true and returns once the engine has
// acknowledged it. The Revert resets the setting.
func (in *Injector) Apply(ctx context.Context) (fault.Revert, error) {
	if err := in.cfg.Validate(); err != nil {
		return nil, err
	}
	if err := fault.CheckTarget(in.cfg.Search.URL, fault.AllowedTargets()); err != nil {
		return nil, fmt.Errorf("%s on %s: %w", fault.KindWriteBlock, in.cfg.Search, err)
	}
	c, err := search.New(in.cfg.Search)
	if err != nil {
		return nil, fmt.Errorf("%w: Search: %w", fault.ErrInvalid, err)
	}
	remove := func() error { return nil }
	if j := in.cfg.Journal; j != nil {
		_, rm, err := j.Add(fault.Record{
			Kind:   fault.KindWriteBlock,
			Target: in.cfg.Search.String() + " index " + in.cfg.Index,
			Data:   recordData(in.cfg),
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fault.KindWriteBlock, err)
		}
		remove = rm
	}
	if err := c.PutSettings(ctx, in.cfg.Index, map[string]any{setting: true}); err != nil {
		// An engine that answered an error status set nothing; after a
		// timeout or a broken connection the block may be set: reset it
		// before the record goes, or keep the record for Repair.
		var se *search.Error
		var uerr error
		if !errors.As(err, &se) || se.Kind != search.KindStatus {
			uerr = unblock(context.WithoutCancel(ctx), c, in.cfg.Index)
		}
		if uerr == nil {
			uerr = remove()
		}
		c.CloseIdleConnections()
		return nil, errors.Join(fmt.Errorf("%s on index %s: %w", fault.KindWriteBlock, in.cfg.Index, err), uerr)
	}
	in.cfg.Metrics.Inc(fault.KindWriteBlock, 1)
	b := &blocker{c: c, index: in.cfg.Index, remove: remove}
	return b.revert, nil
}

// blocker reverts one write block.
type blocker struct {
	c      *search.Client
	index  string
	remove func() error
	mu     sync.Mutex
	done   bool
}

func (b *blocker) revert(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return nil
	}
	if err := unblock(ctx, b.c, b.index); err != nil {
		return fmt.Errorf("%s revert on index %s: %w", fault.KindWriteBlock, b.index, err)
	}
	b.done = true
	b.c.CloseIdleConnections()
	return b.remove()
}

// unblock resets index.blocks.write on index. A missing index has no block
// to lift; in a comma list, the indices that exist are still unblocked.
func unblock(ctx context.Context, c *search.Client, index string) error {
	err := c.PutSettings(ctx, index, map[string]any{setting: nil})
	if !errors.Is(err, search.ErrIndexNotFound) {
		return err
	}
	parts := strings.Split(index, ",")
	if len(parts) == 1 {
		return nil
	}
	var errs []error
	for _, p := range parts {
		errs = append(errs, unblock(ctx, c, p))
	}
	return errors.Join(errs...)
}

// recordData is what Repair needs to reach the engine again, secrets
// left out.
func recordData(c Config) map[string]string {
	d := map[string]string{"index": c.Index}
	user := c.Search.Username
	if u, err := url.Parse(c.Search.URL); err == nil {
		if u.User != nil && user == "" {
			user = u.User.Username()
		}
		u.User = nil
		d["url"] = u.String()
	}
	if user != "" {
		d["username"] = user
	}
	if c.Search.APIKey != "" {
		d["auth"] = "api_key"
	}
	if c.Search.CAFile != "" {
		d["ca_file"] = c.Search.CAFile
	}
	if c.Search.InsecureSkipVerify {
		d["insecure_skip_verify"] = "true"
	}
	return d
}
