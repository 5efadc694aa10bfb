package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrIndexExists is wrapped by the error CreateIndex returns when the engine
// answers resource_already_exists_exception.
var ErrIndexExists = errors.New("index already exists")

// ErrIndexNotFound is wrapped by any *Error whose engine error type is
// index_not_found_exception.
var ErrIndexNotFound = errors.New("index not found")

// ErrorKind says where a request failed, which is what a caller needs to
// pick a retry reason.
type ErrorKind int

// The error kinds.
const (
	// KindConnect: the request did not get an answer because the connection
	// could not be made or broke (refused, reset, EOF, DNS, no route, TLS).
	KindConnect ErrorKind = iota + 1
	// KindTimeout: the client timeout, the caller's deadline or a network
	// timeout expired first.
	KindTimeout
	// KindStatus: the engine (or a proxy) answered the whole request with a
	// status the operation does not accept (non-2xx, 3xx included).
	KindStatus
	// KindProtocol: the answer arrived but cannot be used: unparseable body,
	// or a bulk answer whose items do not match the request.
	KindProtocol
)

// String returns the kind's lower-case name.
func (k ErrorKind) String() string {
	switch k {
	case KindConnect:
		return "connect"
	case KindTimeout:
		return "timeout"
	case KindStatus:
		return "status"
	case KindProtocol:
		return "protocol"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is the one error type of the package's operations. Type and Reason
// come from the engine's error body ({"error":{"type":..,"reason":..}});
// for a body that is not an ES error object, Reason holds a short excerpt.
type Error struct {
	Kind       ErrorKind
	Op         string // "bulk", "get", "info", ...
	Status     int    // HTTP status; 0 when no response arrived
	Type       string // error.type of the engine's body
	Reason     string // error.reason of the engine's body
	RetryAfter time.Duration
	Err        error
}

// Error describes the failure. It never contains credentials: the client
// strips them from URLs and scrubs them from anything the server echoed.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("search ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.Status != 0 {
		fmt.Fprintf(&b, " %d", e.Status)
	}
	if e.Type != "" {
		b.WriteString(" ")
		b.WriteString(e.Type)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil && e.Kind != KindStatus {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause (a transport error, ErrIndexExists, ...).
func (e *Error) Unwrap() error { return e.Err }

// transportError classifies an error from sending a request or reading its
// body. A caller's cancellation is returned wrapped but not as an *Error.
func transportError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); errors.Is(ctxErr, context.Canceled) {
		return fmt.Errorf("search %s: %w", op, ctxErr)
	}
	kind := KindConnect
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		kind = KindTimeout
	}
	return &Error{Kind: kind, Op: op, Err: err}
}

// statusError builds the KindStatus error for a whole-request failure.
func statusError(op string, resp *response) *Error {
	typ, reason := parseErrorBody(resp.body)
	e := &Error{
		Kind:       KindStatus,
		Op:         op,
		Status:     resp.status,
		Type:       typ,
		Reason:     reason,
		RetryAfter: retryAfter(resp.header.Get("Retry-After"), time.Now()),
	}
	switch {
	case typ == "resource_already_exists_exception":
		e.Err = ErrIndexExists
	case typ == "index_not_found_exception":
		e.Err = ErrIndexNotFound
	case resp.status >= 300 && resp.status < 400 && resp.header.Get("Location") != "":
		// Redirects are never followed; say where the server pointed.
		if e.Reason == "" {
			e.Reason = "redirect to " + resp.header.Get("Location") + " not followed"
		}
	}
	if e.Reason == "" && e.Type == "" {
		e.Reason = http.StatusText(resp.status)
	}
	return e
}

// maxReasonLen bounds the excerpt of a body that is not an ES error object
// (an HTML page from a proxy, say), so one bad answer cannot flood a log.
const maxReasonLen = 256

// parseErrorBody extracts error.type and error.reason from
// {"error":{"type":..,"reason":..},"status":..}, tolerating
// {"error":"text"} (pre-5.x engines, some proxies) and non-JSON bodies.
func parseErrorBody(body []byte) (typ, reason string) {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return "", excerpt(body)
	}
	if len(env.Error) == 0 || string(env.Error) == "null" {
		return "", ""
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil {
		return "", s
	}
	var obj struct {
		Type      string `json:"type"`
		Reason    string `json:"reason"`
		RootCause []struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"root_cause"`
	}
	if json.Unmarshal(env.Error, &obj) != nil {
		return "", excerpt(env.Error)
	}
	if obj.Type == "" && len(obj.RootCause) > 0 {
		obj.Type, obj.Reason = obj.RootCause[0].Type, obj.RootCause[0].Reason
	}
	return obj.Type, obj.Reason
}

// excerpt returns the start of b as one trimmed line of valid UTF-8.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactedError hides secrets in an error's text but keeps its chain.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }
