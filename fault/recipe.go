package fault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The recipe's variables (DESIGN.md "Fault contract"; FAULT_SEED is
// firedrill's addition so a rate is replayable).
const (
	VarScenario = "FAULT_SCENARIO"
	VarRate     = "FAULT_RATE"
	VarEveryN   = "FAULT_EVERY_N"
	VarDuration = "FAULT_DURATION_S"
	VarMatch    = "FAULT_MATCH"
	VarSeed     = "FAULT_SEED"
)

// Vars lists the recipe variables in the order they are reported.
var Vars = []string{VarScenario, VarRate, VarEveryN, VarDuration, VarMatch, VarSeed}

// Sources of a value, lowest precedence first.
const (
	SourceDefault  = "default"
	SourceScenario = "scenario"
	SourceEnvFile  = "env_file"
	SourceEnv      = "env"
	SourceFlag     = "flag"
)

// Layer is one source of recipe values: variable name → raw value.
type Layer struct {
	Source string
	Vars   map[string]string
}

// Recipe is a resolved fault recipe.
type Recipe struct {
	Scenario string
	// Rate is the share (0..1) of matching requests or bulk items faulted;
	// 1 when neither Rate nor EveryN is set.
	Rate float64
	// EveryN faults every Nth matching request or item (1-based: N, 2N, …);
	// it wins over Rate. 0 when unset.
	EveryN int
	// Duration is the fault window; the fault reverts itself when it ends.
	Duration time.Duration
	Match    Match
	// Seed seeds the rate's draws.
	Seed uint64
	// raw and source of each variable as resolved, for _recipe.json.
	raw    map[string]string
	source map[string]string
}

var scenarioID = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)

// Resolve merges layers (later layers win) and validates the result. Every
// error names the variable, its value, where the value came from and what
// is allowed.
func Resolve(layers ...Layer) (Recipe, error) {
	r := Recipe{raw: map[string]string{}, source: map[string]string{}}
	for _, l := range layers {
		for k, v := range l.Vars {
			if !strings.HasPrefix(k, "FAULT_") {
				continue
			}
			if !knownVar(k) {
				return r, fmt.Errorf("%w: %s (from %s) is not a recipe variable; known: %s", ErrInvalid, k, l.Source, strings.Join(Vars, ", "))
			}
			r.raw[k], r.source[k] = strings.TrimSpace(v), l.Source
		}
	}
	bad := func(k, want string) error {
		return fmt.Errorf("%w: %s=%q (from %s): %s", ErrInvalid, k, r.raw[k], r.source[k], want)
	}
	if v, ok := r.raw[VarScenario]; ok {
		if !scenarioID.MatchString(v) {
			return r, bad(VarScenario, "must be a scenario id: lowercase letters, digits and _ (e.g. es_429_inject)")
		}
		r.Scenario = v
	}
	r.Rate = 1
	if v, ok := r.raw[VarRate]; ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return r, bad(VarRate, "must be a number from 0 to 1 (the share of matching requests or bulk items to fault)")
		}
		r.Rate = f
	}
	if v, ok := r.raw[VarEveryN]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return r, bad(VarEveryN, "must be a whole number ≥ 1 (fault every Nth matching request or bulk item)")
		}
		r.EveryN = n
	}
	if v, ok := r.raw[VarDuration]; ok {
		d, err := parseSeconds(v)
		if err != nil || d <= 0 {
			return r, bad(VarDuration, "must be a number of seconds > 0 (e.g. 30 or 2.5), or a duration such as 1m30s")
		}
		r.Duration = d
	}
	if v, ok := r.raw[VarMatch]; ok {
		m, err := ParseMatch(v)
		if err != nil {
			return r, bad(VarMatch, err.Error())
		}
		r.Match = m
	}
	if v, ok := r.raw[VarSeed]; ok {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return r, bad(VarSeed, "must be a whole number ≥ 0")
		}
		r.Seed = s
	}
	return r, nil
}

func knownVar(k string) bool {
	for _, v := range Vars {
		if v == k {
			return true
		}
	}
	return false
}

func parseSeconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > 1e9 {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

// Source reports where variable k's value came from ("" when unset).
func (r Recipe) Source(k string) string { return r.source[k] }

// Set reports whether variable k was given by any layer.
func (r Recipe) Set(k string) bool { _, ok := r.raw[k]; return ok }

// Env returns the recipe as FAULT_* variables, for a child process or a
// re-run: only the variables that were set.
func (r Recipe) Env() []string {
	var out []string
	for _, k := range Vars {
		if v, ok := r.raw[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// Entry is one resolved value with its source.
type Entry struct {
	Value  string `json:"value"`
	Source string `json:"source"`
}

// MarshalJSON writes every variable in order, each with its value and
// source; unset ones have source "default" and the value in force.
func (r Recipe) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range Vars {
		e := Entry{Value: r.raw[k], Source: r.source[k]}
		if e.Source == "" {
			e = Entry{Value: r.defaultValue(k), Source: SourceDefault}
		}
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (r Recipe) defaultValue(k string) string {
	switch k {
	case VarRate:
		return "1"
	case VarSeed:
		return "0"
	}
	return ""
}

// UnmarshalJSON reads what MarshalJSON wrote (a bundle's recipe, for
// --from): values keep their recorded sources.
func (r *Recipe) UnmarshalJSON(b []byte) error {
	var m map[string]Entry
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	vars := map[string]string{}
	for k, e := range m {
		if e.Source != SourceDefault {
			vars[k] = e.Value
		}
	}
	got, err := Resolve(Layer{Source: "bundle", Vars: vars})
	if err != nil {
		return err
	}
	for k, e := range m {
		if e.Source != SourceDefault {
			got.source[k] = e.Source
		}
	}
	*r = got
	return nil
}
