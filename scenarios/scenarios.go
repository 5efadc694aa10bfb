// Package scenarios holds the built-in drill catalog: the YAML files beside
// this file, embedded in the binary. A user's own scenarios/ directory is
// read on top of them (same id: the user's file wins).
package scenarios

import "embed"

// FS holds the built-in scenario files at its root.
//
//go:embed *.yaml
var FS embed.FS
