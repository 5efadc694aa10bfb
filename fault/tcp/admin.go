package tcp

import (
	"context"
	"fmt"
	"sort"
)

// ProxyState is one Toxiproxy proxy as `fault status` shows it.
type ProxyState struct {
	Name     string   `json:"name"`
	Listen   string   `json:"listen"`
	Upstream string   `json:"upstream"`
	Enabled  bool     `json:"enabled"`
	Toxics   []string `json:"toxics"`
}

// Status lists the proxies of the Toxiproxy server at api, by name.
func Status(ctx context.Context, api string) ([]ProxyState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all, err := newClient(api).Proxies()
	if err != nil {
		return nil, fmt.Errorf("toxiproxy %s: %w", api, err)
	}
	out := make([]ProxyState, 0, len(all))
	for name, p := range all {
		st := ProxyState{Name: name, Listen: p.Listen, Upstream: p.Upstream, Enabled: p.Enabled, Toxics: []string{}}
		for _, t := range p.ActiveToxics {
			st.Toxics = append(st.Toxics, t.Name+" ("+t.Type+")")
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Reset removes every toxic and enables every proxy of the server at api.
func Reset(ctx context.Context, api string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := newClient(api).ResetState(); err != nil {
		return fmt.Errorf("toxiproxy %s: reset: %w", api, err)
	}
	return nil
}
