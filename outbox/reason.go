package outbox

import "fmt"

// Reason is why an event was retried or dead-lettered: a closed,
// low-cardinality enum, safe to use as a metric label.
type Reason string

// The reasons, named as DESIGN.md names them.
const (
	ReasonES429         Reason = "es_429"
	ReasonES5xx         Reason = "es_5xx"
	ReasonES4xx         Reason = "es_4xx"
	ReasonESConnect     Reason = "es_connect"
	ReasonESTimeout     Reason = "es_timeout"
	ReasonDBLock        Reason = "db_lock"
	ReasonDBError       Reason = "db_error"
	ReasonLeaseLost     Reason = "lease_lost"
	ReasonSourceMissing Reason = "source_missing"
)

// Reasons lists every reason, the order metrics initialise them in.
var Reasons = []Reason{
	ReasonES429, ReasonES5xx, ReasonES4xx, ReasonESConnect, ReasonESTimeout,
	ReasonDBLock, ReasonDBError, ReasonLeaseLost, ReasonSourceMissing,
}

// ParseReason returns the reason named s or an error listing the allowed values.
func ParseReason(s string) (Reason, error) {
	for _, r := range Reasons {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("%w: unknown reason %q (allowed: %v)", ErrInvalid, s, Reasons)
}
