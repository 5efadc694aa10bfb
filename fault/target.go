package fault

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
)

// AllowTargetsEnv lists extra hosts (or host:port) destructive faults may
// target, comma-separated.
const AllowTargetsEnv = "FIREDRILL_ALLOW_TARGETS"

// AllowedTargets reads FIREDRILL_ALLOW_TARGETS.
func AllowedTargets() []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(AllowTargetsEnv), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// CheckTarget refuses a destructive fault (write block, table lock, TCP
// fault) aimed at target — a URL, a DSN host, host:port or a host — unless
// its host is loopback or target is listed in allow (by host or host:port).
func CheckTarget(target string, allow []string) error {
	host, port := splitTarget(target)
	if host == "" {
		return fmt.Errorf("%w: cannot tell the host of %q", ErrTargetRefused, target)
	}
	if isLoopback(host) {
		return nil
	}
	h := strings.ToLower(host)
	if slices.Contains(allow, h) || (port != "" && slices.Contains(allow, net.JoinHostPort(h, port))) {
		return nil
	}
	return fmt.Errorf("%w: %s is not loopback; a destructive fault only targets what the harness started or a host listed in %s (e.g. %s=%s)",
		ErrTargetRefused, host, AllowTargetsEnv, AllowTargetsEnv, h)
}

func splitTarget(target string) (host, port string) {
	t := strings.TrimSpace(target)
	if strings.Contains(t, "://") {
		u, err := url.Parse(t)
		if err != nil {
			return "", ""
		}
		return u.Hostname(), u.Port()
	}
	if h, p, err := net.SplitHostPort(t); err == nil {
		return h, p
	}
	return strings.Trim(t, "[]"), ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
