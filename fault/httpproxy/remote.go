package httpproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"firedrill/fault"
)

// Client talks to a proxy's admin API (a proxy in another process).
type Client struct {
	// Admin is the admin base URL, e.g. http://127.0.0.1:9310.
	Admin string
	HC    *http.Client
}

func (c Client) hc() *http.Client {
	if c.HC != nil {
		return c.HC
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (c Client) call(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Admin, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("fault proxy admin %s: %w", c.Admin, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc().Do(req)
	if err != nil {
		return fmt.Errorf("fault proxy admin %s: %w", c.Admin, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("fault proxy admin %s: %w", c.Admin, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		err := fmt.Errorf("fault proxy admin %s %s: %d: %s", method, path, resp.StatusCode, e.Error)
		switch resp.StatusCode {
		case http.StatusBadRequest:
			return fmt.Errorf("%w: %w", fault.ErrInvalid, err)
		case http.StatusConflict:
			return fmt.Errorf("%w: %w", ErrActive, err)
		}
		return err
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Status reads the proxy's status.
func (c Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodGet, "/status", nil, &st)
	return st, err
}

// Start starts a fault window.
func (c Client) Start(ctx context.Context, spec Spec) (WindowStatus, error) {
	var ws WindowStatus
	err := c.call(ctx, http.MethodPost, "/fault", spec, &ws)
	return ws, err
}

// Stop ends the window in force, if any.
func (c Client) Stop(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, "/fault", nil, nil)
}

// Injector applies a Spec on a proxy reached through its admin API. The
// proxy expires the fault by itself, so a crashed injector never leaves it
// on; Revert ends it early.
type Injector struct {
	Client Client
	Spec   Spec
}

var _ fault.Injector = (*Injector)(nil)

// Apply starts the window.
func (i *Injector) Apply(ctx context.Context) (fault.Revert, error) {
	if _, err := i.Client.Start(ctx, i.Spec); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return i.Client.Stop(ctx) }, nil
}

// Local applies a Spec on a proxy in this process.
type Local struct {
	Proxy *Proxy
	Spec  Spec
}

var _ fault.Injector = (*Local)(nil)

// Apply starts the window.
func (l *Local) Apply(context.Context) (fault.Revert, error) {
	if _, err := l.Proxy.Activate(l.Spec); err != nil {
		return nil, err
	}
	return func(context.Context) error { l.Proxy.Deactivate(); return nil }, nil
}
