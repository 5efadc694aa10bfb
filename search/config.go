package search

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds one request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config says where the engine is and how to authenticate to it.
type Config struct {
	// URL is http(s)://host:port[/prefix]. User info in it
	// (http://user:pass@host) is accepted as basic auth and stripped.
	URL string
	// Username and Password are sent as basic auth. Password is never
	// logged or printed.
	Username string
	Password string
	// APIKey is sent as "Authorization: ApiKey <APIKey>"; never logged.
	APIKey string
	// CAFile is a PEM CA bundle that verifies an https engine.
	CAFile string
	// InsecureSkipVerify turns off certificate verification (labs only).
	InsecureSkipVerify bool
	// Timeout bounds one request, body included; DefaultTimeout when zero.
	Timeout time.Duration
	// Transport, when set (tests, fault injection), is used as is and
	// overrides CAFile and InsecureSkipVerify.
	Transport http.RoundTripper
}

// String returns the URL with secrets replaced by "***", fit for logs.
func (c Config) String() string {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		// An unparseable URL may hold a password; print none of it.
		return "<invalid URL>"
	}
	user := c.Username
	hasPass := c.Password != ""
	if u.User != nil {
		if user == "" {
			user = u.User.Username()
		}
		_, p := u.User.Password()
		hasPass = hasPass || p
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "***"
	}
	u.Fragment, u.RawFragment = "", ""
	s := u.String()
	if user != "" {
		// Built by hand: url.UserPassword would escape "***" to "%2A%2A%2A".
		info := url.User(user).String()
		if hasPass {
			info += ":***"
		}
		prefix := u.Scheme + "://"
		s = prefix + info + "@" + strings.TrimPrefix(s, prefix)
	}
	if c.APIKey != "" {
		s += " (api key ***)"
	}
	return s
}

// settings is a validated Config.
type settings struct {
	base     *url.URL // scheme, host and path prefix; no user info
	username string
	password string
	apiKey   string
	timeout  time.Duration
	rt       http.RoundTripper
}

// validate checks c and resolves it. Every error names the field to fix and
// never quotes a secret.
func (c Config) validate() (*settings, error) {
	if strings.TrimSpace(c.URL) == "" {
		return nil, errors.New("Config.URL is empty: set it to http(s)://host:port")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("Config.URL does not parse (%w): want http(s)://host:port[/prefix]", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("Config.URL scheme %q is not http or https: want http(s)://host:port", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("Config.URL has no host: want http(s)://host:port")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("Config.URL has a query or fragment: remove it, only a path prefix is allowed")
	}
	s := &settings{username: c.Username, password: c.Password, apiKey: c.APIKey, timeout: c.Timeout}
	if u.User != nil {
		if c.Username != "" || c.Password != "" {
			return nil, errors.New("Config.URL carries user info and Config.Username/Password are set: give the credentials in one place")
		}
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	switch {
	case s.username != "" && s.password == "":
		return nil, errors.New("Config.Username is set without Config.Password: set both, or neither")
	case s.username == "" && s.password != "":
		return nil, errors.New("Config.Password is set without Config.Username: set both, or neither")
	case s.apiKey != "" && s.username != "":
		return nil, errors.New("Config.APIKey and Config.Username are both set: use one authentication method")
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("Config.Timeout is negative (%s): use a positive duration, or 0 for %s", s.timeout, DefaultTimeout)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	base := *u
	base.User = nil
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = ""
	s.base = &base

	s.rt = c.Transport
	if s.rt == nil {
		if s.rt, err = c.transport(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// transport builds the default keep-alive transport with c's TLS settings.
func (c Config) transport() (*http.Transport, error) {
	// InsecureSkipVerify is an explicit opt-in for lab clusters with
	// self-signed certificates and no CA file at hand.
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("Config.CAFile: %w: point it at a readable PEM CA bundle", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("Config.CAFile %q holds no PEM certificate: point it at a PEM CA bundle", c.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// No environment proxy: a drill must reach the engine (or the fault
	// proxy the harness names) directly, not whatever HTTPS_PROXY says.
	t.Proxy = nil
	t.TLSClientConfig = tlsCfg
	// A projector sends one bulk per batch from a few workers; keep their
	// connections rather than the default two per host.
	t.MaxIdleConnsPerHost = 32
	return t, nil
}
