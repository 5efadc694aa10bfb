package httpproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"firedrill/fault"
)

// Spec is one fault the proxy injects: a kind, the recipe that selects what
// it hits (rate or every N, match, seed, and the window), and the kind's
// options.
type Spec struct {
	Kind   fault.Kind   `json:"kind"`
	Recipe fault.Recipe `json:"recipe"`
	// Status is the answer of http_5xx (default 503).
	Status int `json:"status,omitempty"`
	// RetryAfter is the Retry-After of http_429 (default 1s; whole seconds).
	RetryAfter Duration `json:"retry_after,omitempty"`
	// Latency is the delay of http_latency.
	Latency Duration `json:"latency,omitempty"`
	// AckLost is how ack_lost loses the answer: "drop" (close the
	// connection: the client sees EOF, default) or "502" (answer 502).
	AckLost string `json:"ack_lost,omitempty"`
}

// proxyKinds are the kinds this proxy injects.
var proxyKinds = []fault.Kind{fault.KindHTTP429, fault.KindHTTP5xx, fault.KindHTTPLatency, fault.KindHTTPReset,
	fault.KindHTTPRefuse, fault.KindAckLost, fault.KindBulkItem429, fault.KindBulkItem400, fault.KindBulkItemMixed}

// Handles reports whether the proxy injects kind k.
func Handles(k fault.Kind) bool {
	for _, x := range proxyKinds {
		if x == k {
			return true
		}
	}
	return false
}

// WithDefaults fills the options the kind needs.
func (s Spec) WithDefaults() Spec {
	if s.Kind == fault.KindHTTP5xx && s.Status == 0 {
		s.Status = http.StatusServiceUnavailable
	}
	if s.Kind == fault.KindHTTP429 && s.RetryAfter == 0 {
		s.RetryAfter = Duration(time.Second)
	}
	if s.Kind == fault.KindAckLost && s.AckLost == "" {
		s.AckLost = "drop"
	}
	return s
}

// Validate names the first problem of s.
func (s Spec) Validate() error {
	if !Handles(s.Kind) {
		return fmt.Errorf("%w: kind %q is not an HTTP proxy fault; allowed: %v", fault.ErrInvalid, s.Kind, proxyKinds)
	}
	if s.Recipe.Duration <= 0 {
		return fmt.Errorf("%w: %s is required: every proxy fault has a window and reverts itself when it ends", fault.ErrInvalid, fault.VarDuration)
	}
	switch {
	case s.Kind == fault.KindHTTP5xx && (s.Status < 500 || s.Status > 599):
		return fmt.Errorf("%w: status %d: http_5xx answers a status from 500 to 599", fault.ErrInvalid, s.Status)
	case s.Kind == fault.KindHTTPLatency && s.Latency <= 0:
		return fmt.Errorf("%w: latency is required for http_latency (e.g. 500ms)", fault.ErrInvalid)
	case s.Kind == fault.KindAckLost && s.AckLost != "drop" && s.AckLost != "502":
		return fmt.Errorf("%w: ack_lost %q: allowed: drop (close the connection), 502 (answer Bad Gateway)", fault.ErrInvalid, s.AckLost)
	case s.RetryAfter < 0 || s.Latency < 0:
		return fmt.Errorf("%w: retry_after and latency must not be negative", fault.ErrInvalid)
	}
	return nil
}

// Duration is a time.Duration written as a Go duration string in JSON.
type Duration time.Duration

// MarshalJSON writes "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s" (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string such as \"500ms\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}
