package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"firedrill/outbox"
	"firedrill/projector"
)

// policyFile is the --policy file: every key optional, an absent key keeps
// the default, a present one (0 included) replaces it.
type policyFile struct {
	MaxAttempts *int                  `yaml:"max_attempts"`
	Backoff     *backoffFile          `yaml:"backoff"`
	Classes     map[string]actionFile `yaml:"classes"`
}

type backoffFile struct {
	Initial    *duration `yaml:"initial"`
	Max        *duration `yaml:"max"`
	Multiplier *float64  `yaml:"multiplier"`
	Jitter     *float64  `yaml:"jitter"`
}

type actionFile struct {
	Action  string       `yaml:"action"`
	Reason  string       `yaml:"reason"`
	Backoff *backoffFile `yaml:"backoff"`
}

// duration is a YAML duration written as a string ("500ms"); a bare number
// is refused rather than read as nanoseconds.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return fmt.Errorf("line %d: duration %q: write it with a unit, e.g. \"500ms\" or \"2s\"", n.Line, n.Value)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = duration(v)
	return nil
}

func (b *backoffFile) apply(dst *projector.Backoff) {
	if b == nil {
		return
	}
	if b.Initial != nil {
		dst.Initial = time.Duration(*b.Initial)
	}
	if b.Max != nil {
		dst.Max = time.Duration(*b.Max)
	}
	if b.Multiplier != nil {
		dst.Multiplier = *b.Multiplier
	}
	if b.Jitter != nil {
		dst.Jitter = *b.Jitter
	}
}

// loadPolicy applies the operator's file over the default table.
func loadPolicy(path string) (projector.Policy, error) {
	p := projector.DefaultPolicy()
	if path == "" {
		return p, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return p, usageErr("--policy: %v", err)
	}
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file overrides nothing
		return p, usageErr("--policy %s: %v", path, err)
	}
	if f.MaxAttempts != nil {
		p.MaxAttempts = *f.MaxAttempts
	}
	f.Backoff.apply(&p.Backoff)
	for class, a := range f.Classes {
		act := projector.Action{Action: projector.ActionKind(a.Action), Reason: outbox.Reason(a.Reason)}
		if a.Backoff != nil {
			act.Backoff = &projector.Backoff{}
			a.Backoff.apply(act.Backoff)
		}
		p.Classes[projector.Class(class)] = act
	}
	if err := p.Validate(); err != nil {
		return p, usageErr("--policy %s: %v", path, err)
	}
	return p, nil
}
