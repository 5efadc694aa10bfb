package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"firedrill/fault"
)

// The toxiproxy v2.5.0 client takes no context: this package checks ctx
// before each API call, and a call in flight runs to its end. Every call
// is one short HTTP request to an API that answers from memory.

// proxyName is what a proxy name may hold: the client puts it in URL paths
// unescaped.
var proxyName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func checkProxyName(name string) error {
	if !proxyName.MatchString(name) {
		return fmt.Errorf("%w: proxy %q: want a Toxiproxy proxy name of letters, digits, '.', '_' and '-'", fault.ErrInvalid, name)
	}
	return nil
}

func newClient(api string) *toxiclient.Client {
	return toxiclient.NewClient(strings.TrimRight(api, "/"))
}

// lookup finds the proxy called name; found is false when the server has
// no such proxy.
func lookup(ctx context.Context, c *toxiclient.Client, name string) (p *toxiclient.Proxy, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	// Proxies, not Proxy(name): a missing proxy is then a missing key, not
	// an error whose status only survives in its text.
	all, err := c.Proxies()
	if err != nil {
		return nil, false, fmt.Errorf("list proxies: %w", err)
	}
	p, found = all[name]
	return p, found, nil
}

// refused reports whether err is a refused connection to the API: no
// Toxiproxy runs there, and since Toxiproxy keeps its proxies and toxics in
// memory only, none of its faults is left either.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// EnsureProxy makes the Toxiproxy server at api run a proxy called name
// from listen to upstream, and returns the address it listens on (listen
// "127.0.0.1:0" lets Toxiproxy pick a free port). An existing proxy of that
// name is kept as it is — enabled or not, with its toxics — when it has
// that upstream and listens where asked (any port if listen's is 0);
// otherwise it is moved to listen and upstream.
func EnsureProxy(ctx context.Context, api, name, listen, upstream string) (string, error) {
	if err := checkProxyName(name); err != nil {
		return "", err
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return "", fmt.Errorf("%w: listen %q: want host:port: %w", fault.ErrInvalid, listen, err)
	}
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return "", fmt.Errorf("%w: upstream %q: want host:port: %w", fault.ErrInvalid, upstream, err)
	}
	c := newClient(api)
	p, found, err := lookup(ctx, c, name)
	if err != nil {
		return "", fmt.Errorf("toxiproxy %s: %w", api, err)
	}
	if found && p.Upstream == upstream && listenMatches(listen, p.Listen) {
		return p.Listen, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !found {
		p, err = c.CreateProxy(name, listen, upstream)
		if err != nil {
			return "", fmt.Errorf("toxiproxy %s: create proxy %s: %w", api, name, err)
		}
		return p.Listen, nil
	}
	p.Listen, p.Upstream = listen, upstream
	if err := p.Save(); err != nil {
		return "", fmt.Errorf("toxiproxy %s: update proxy %s: %w", api, name, err)
	}
	return p.Listen, nil
}

// listenMatches reports whether a proxy listening on have satisfies a
// request to listen on want.
func listenMatches(want, have string) bool {
	if want == have {
		return true
	}
	wh, wp, err1 := net.SplitHostPort(want)
	hh, _, err2 := net.SplitHostPort(have)
	return err1 == nil && err2 == nil && wp == "0" && wh == hh
}
