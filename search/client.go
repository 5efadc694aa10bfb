package search

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBodyBytes bounds a response body; a larger one is a KindProtocol error.
const maxBodyBytes = 64 << 20

// Client talks to one engine endpoint. It is safe for concurrent use and
// keeps connections alive between requests.
type Client struct {
	hc      *http.Client
	base    *url.URL
	auth    string   // Authorization header value; "" sends none
	secrets []string // scrubbed from every error's text
}

// Info is what GET / says about the engine.
type Info struct {
	Name          string
	ClusterName   string
	VersionNumber string
	Distribution  string // "opensearch" or "elasticsearch"
}

// Doc is one document as Get returns it.
type Doc struct {
	Found   bool
	Version int64
	Source  json.RawMessage
}

// New validates cfg and returns a client. No request is sent.
func New(cfg Config) (*Client, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	c := &Client{
		base: s.base,
		hc: &http.Client{
			Transport: s.rt,
			Timeout:   s.timeout,
			// Never follow: a redirected bulk would be re-sent somewhere the
			// drill did not name. The 3xx comes back as a KindStatus error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	switch {
	case s.apiKey != "":
		c.auth = "ApiKey " + s.apiKey
		c.secrets = []string{s.apiKey}
	case s.username != "":
		token := base64.StdEncoding.EncodeToString([]byte(s.username + ":" + s.password))
		c.auth = "Basic " + token
		c.secrets = []string{s.password, token}
	}
	return c, nil
}

// CloseIdleConnections closes kept-alive connections that are idle. The
// client stays usable.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Info returns the engine's name, cluster and version (GET /).
func (c *Client) Info(ctx context.Context) (Info, error) {
	const op = "info"
	resp, err := c.do(ctx, op, http.MethodGet, "", nil, nil, "")
	if err != nil {
		return Info{}, err
	}
	if !resp.ok() {
		return Info{}, c.fail(op, resp)
	}
	var body struct {
		Name        string `json:"name"`
		ClusterName string `json:"cluster_name"`
		Version     struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if err := c.decode(op, resp, &body); err != nil {
		return Info{}, err
	}
	info := Info{Name: body.Name, ClusterName: body.ClusterName, VersionNumber: body.Version.Number, Distribution: body.Version.Distribution}
	if info.Distribution == "" {
		// Elasticsearch does not send version.distribution; OpenSearch does.
		info.Distribution = "elasticsearch"
	}
	return info, nil
}

// IndexExists reports whether index (or an alias of that name) exists.
func (c *Client) IndexExists(ctx context.Context, index string) (bool, error) {
	const op = "index_exists"
	if err := needName(op, "index", index); err != nil {
		return false, err
	}
	resp, err := c.do(ctx, op, http.MethodHead, path(index), nil, nil, "")
	if err != nil {
		return false, err
	}
	switch resp.status {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, c.fail(op, resp)
}

// CreateIndex creates index with body (settings, mappings, aliases; nil for
// the engine's defaults). If it exists, the error wraps ErrIndexExists.
func (c *Client) CreateIndex(ctx context.Context, index string, body []byte) error {
	return c.simple(ctx, "create_index", http.MethodPut, index, path(index), body)
}

// EnsureIndex creates index unless it exists. Losing a race to a
// concurrent create is success.
func (c *Client) EnsureIndex(ctx context.Context, index string, body []byte) error {
	ok, err := c.IndexExists(ctx, index)
	if err != nil || ok {
		return err
	}
	err = c.CreateIndex(ctx, index, body)
	if errors.Is(err, ErrIndexExists) {
		return nil
	}
	return err
}

// DeleteIndex deletes index. A missing index is an *Error wrapping
// ErrIndexNotFound, so a caller that does not care can check for it.
func (c *Client) DeleteIndex(ctx context.Context, index string) error {
	return c.simple(ctx, "delete_index", http.MethodDelete, index, path(index), nil)
}

// PutSettings updates index's dynamic settings, e.g.
// {"index.blocks.write": true}.
func (c *Client) PutSettings(ctx context.Context, index string, settings map[string]any) error {
	body, err := json.Marshal(settings)
	if err != nil {
		return fmt.Errorf("search put_settings: encode settings: %w", err)
	}
	return c.simple(ctx, "put_settings", http.MethodPut, index, path(index, "_settings"), body)
}

// Settings returns index's settings as a flat map
// ("index.blocks.write" -> "true"); the engine sends values as strings.
func (c *Client) Settings(ctx context.Context, index string) (map[string]any, error) {
	const op = "settings"
	if err := needName(op, "index", index); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, op, http.MethodGet, path(index, "_settings"), url.Values{"flat_settings": {"true"}}, nil, "")
	if err != nil {
		return nil, err
	}
	if !resp.ok() {
		return nil, c.fail(op, resp)
	}
	var body map[string]struct {
		Settings map[string]any `json:"settings"`
	}
	if err := c.decode(op, resp, &body); err != nil {
		return nil, err
	}
	if s, ok := body[index]; ok {
		return s.Settings, nil
	}
	if len(body) == 1 { // index was an alias of one concrete index
		for _, s := range body {
			return s.Settings, nil
		}
	}
	return nil, &Error{Kind: KindProtocol, Op: op, Status: resp.status, Reason: fmt.Sprintf("answer names %d indices, none of them %q", len(body), index)}
}

// Refresh makes index's recent writes visible to search and counts.
func (c *Client) Refresh(ctx context.Context, index string) error {
	return c.simple(ctx, "refresh", http.MethodPost, index, path(index, "_refresh"), nil)
}

// Get reads one document. A missing document is Found=false and no error;
// a missing index is an *Error wrapping ErrIndexNotFound.
func (c *Client) Get(ctx context.Context, index, id string) (Doc, error) {
	const op = "get"
	if err := needName(op, "index", index); err != nil {
		return Doc{}, err
	}
	if err := needName(op, "id", id); err != nil {
		return Doc{}, err
	}
	resp, err := c.do(ctx, op, http.MethodGet, path(index, "_doc", id), nil, nil, "")
	if err != nil {
		return Doc{}, err
	}
	if !resp.ok() && resp.status != http.StatusNotFound {
		return Doc{}, c.fail(op, resp)
	}
	var body struct {
		Found   bool            `json:"found"`
		Version int64           `json:"_version"`
		Source  json.RawMessage `json:"_source"`
		Error   json.RawMessage `json:"error"`
	}
	if err := c.decode(op, resp, &body); err != nil {
		return Doc{}, err
	}
	if resp.status == http.StatusNotFound {
		if len(body.Error) > 0 || body.Found {
			return Doc{}, c.fail(op, resp)
		}
		return Doc{}, nil
	}
	return Doc{Found: body.Found, Version: body.Version, Source: body.Source}, nil
}

// Count returns the number of documents in index (as of its last refresh).
func (c *Client) Count(ctx context.Context, index string) (int64, error) {
	const op = "count"
	if err := needName(op, "index", index); err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, op, http.MethodGet, path(index, "_count"), nil, nil, "")
	if err != nil {
		return 0, err
	}
	if !resp.ok() {
		return 0, c.fail(op, resp)
	}
	var body struct {
		Count *int64 `json:"count"`
	}
	if err := c.decode(op, resp, &body); err != nil {
		return 0, err
	}
	if body.Count == nil {
		return 0, &Error{Kind: KindProtocol, Op: op, Status: resp.status, Reason: "answer has no count"}
	}
	return *body.Count, nil
}

// simple sends a request whose only useful answer is a 2xx.
func (c *Client) simple(ctx context.Context, op, method, index, p string, body []byte) error {
	if err := needName(op, "index", index); err != nil {
		return err
	}
	resp, err := c.do(ctx, op, method, p, nil, body, "application/json")
	if err != nil {
		return err
	}
	if !resp.ok() {
		return c.fail(op, resp)
	}
	return nil
}

// response is a fully read answer; its connection is already released.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) ok() bool { return r.status >= 200 && r.status < 300 }

// do sends one request and reads the whole answer, whatever its status.
// It never retries. p is an already escaped path ("" for /).
func (c *Client) do(ctx context.Context, op, method, p string, q url.Values, body []byte, contentType string) (*response, error) {
	target := c.base.String() + p
	if p == "" {
		target += "/"
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body) // sets Content-Length: no chunked bulk
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("search %s: build request: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, c.scrub(transportError(ctx, op, err))
	}
	// Reading to EOF before Close is what lets the connection be reused.
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBodyBytes+1))
	if err != nil {
		return nil, c.scrub(transportError(ctx, op, err))
	}
	if len(b) > maxBodyBytes {
		return nil, &Error{Kind: KindProtocol, Op: op, Status: res.StatusCode, Reason: fmt.Sprintf("response body exceeds %d bytes", maxBodyBytes)}
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// fail turns a rejected answer into a scrubbed KindStatus error.
func (c *Client) fail(op string, resp *response) error { return c.scrub(statusError(op, resp)) }

// decode parses a JSON answer; a body that does not parse is KindProtocol.
func (c *Client) decode(op string, resp *response, v any) error {
	if err := json.Unmarshal(resp.body, v); err != nil {
		return c.scrub(&Error{Kind: KindProtocol, Op: op, Status: resp.status, Reason: "unparseable body: " + excerpt(resp.body), Err: err})
	}
	return nil
}

// scrub removes the client's secrets from err's text, in case a server or
// proxy echoed them back, while keeping err's kind and chain.
func (c *Client) scrub(err error) error {
	if len(c.secrets) == 0 || err == nil {
		return err
	}
	var e *Error
	if !errors.As(err, &e) {
		return c.redact(err)
	}
	e.Type, e.Reason = c.clean(e.Type), c.clean(e.Reason)
	e.Err = c.redact(e.Err)
	return err
}

func (c *Client) redact(err error) error {
	if err == nil {
		return nil
	}
	if msg := c.clean(err.Error()); msg != err.Error() {
		return &redactedError{msg: msg, err: err}
	}
	return err
}

func (c *Client) clean(s string) string {
	for _, secret := range c.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

// path joins escaped segments into "/a/b"; an id may hold any character.
func path(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

func needName(op, what, v string) error {
	if v == "" {
		return fmt.Errorf("search %s: %s name is empty", op, what)
	}
	return nil
}

// Hit is one search hit.
type Hit struct {
	Index   string          `json:"_index"`
	ID      string          `json:"_id"`
	Version int64           `json:"_version"`
	Source  json.RawMessage `json:"_source"`
}

// Result is the part of a _search answer firedrill reads.
type Result struct {
	Total int64
	Hits  []Hit
}

// Search runs a query (a JSON-encodable _search body) against index.
func (c *Client) Search(ctx context.Context, index string, body any) (Result, error) {
	const op = "search"
	if err := needName(op, "index", index); err != nil {
		return Result{}, err
	}
	enc, err := json.Marshal(body)
	if err != nil {
		return Result{}, fmt.Errorf("search: encode body: %w", err)
	}
	resp, err := c.do(ctx, op, http.MethodPost, path(index, "_search"), nil, enc, "application/json")
	if err != nil {
		return Result{}, err
	}
	if !resp.ok() {
		return Result{}, c.fail(op, resp)
	}
	var out struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
			Hits []Hit `json:"hits"`
		} `json:"hits"`
	}
	if err := c.decode(op, resp, &out); err != nil {
		return Result{}, err
	}
	return Result{Total: out.Hits.Total.Value, Hits: out.Hits.Hits}, nil
}
