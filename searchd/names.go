package searchd

import (
	"fmt"
	"path"
	"strings"
)

// validateIndexName applies Elasticsearch's index (and alias) name rules
// and returns the same error Elasticsearch gives for a bad name.
func validateIndexName(name string) *esError {
	if name == "" {
		return errInvalidIndexName(name, "must not be empty")
	}
	if strings.ContainsAny(name, "\\/*?\"<>| ,") {
		return errInvalidIndexName(name, `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`)
	}
	if strings.Contains(name, "#") {
		return errInvalidIndexName(name, "must not contain '#'")
	}
	if strings.Contains(name, ":") {
		return errInvalidIndexName(name, "must not contain ':'")
	}
	if strings.ToLower(name) != name {
		return errInvalidIndexName(name, "must be lowercase")
	}
	if strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+") {
		return errInvalidIndexName(name, "must not start with '_', '-', or '+'")
	}
	if len(name) > 255 {
		return errInvalidIndexName(name, fmt.Sprintf("index name is too long, (%d > 255)", len(name)))
	}
	if name == "." || name == ".." {
		return errInvalidIndexName(name, "must not be '.' or '..'")
	}
	return nil
}

// isPattern reports whether an index expression part is a wildcard.
func isPattern(s string) bool { return s == "_all" || strings.ContainsAny(s, "*?") }

// matchPattern matches an index or alias name against an expression part.
// Hidden (dot-prefixed) names match only a pattern that starts with a dot,
// as in Elasticsearch.
func matchPattern(pattern, name string) bool {
	if pattern == "_all" || pattern == "*" {
		return !strings.HasPrefix(name, ".")
	}
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}
