package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid marks a scenario that cannot be used (exit 3).
var ErrInvalid = errors.New("invalid scenario")

// ErrNotFound is returned for an id no scenario has.
var ErrNotFound = errors.New("no such scenario")

// Parse reads one scenario file. Unknown fields, a second document and bad
// values are errors naming file:line.
func Parse(file string, data []byte) (*Scenario, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: the file is empty", ErrInvalid, file)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, file, lineErr(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s:%d: one scenario per file (found a second YAML document)", ErrInvalid, file, extra.Line)
	}
	s := &Scenario{File: file, lines: map[string]int{}}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(s); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, file, lineErr(err))
	}
	walk(&root, "", s.lines)
	s.Defaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// lineErr turns yaml's "yaml: line 3: …" into "line 3: …".
func lineErr(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	return strings.ReplaceAll(msg, "unmarshal errors:; ", "")
}

// walk records the line of every mapping key and sequence item by path.
func walk(n *yaml.Node, p string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, p, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if p != "" {
				k = p + "." + k
			}
			lines[k] = n.Content[i].Line
			walk(n.Content[i+1], k, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := fmt.Sprintf("%s[%d]", p, i)
			lines[k] = c.Line
			walk(c, k, lines)
		}
	}
}

// Catalog is a set of scenarios by id.
type Catalog struct {
	byID map[string]*Scenario
}

// Load reads every *.yaml and *.yml file of dir in fsys; later sources (a
// user's directory after the built-in ones) replace scenarios with the same
// id. Two files with one id in the same directory are an error.
func Load(sources ...Source) (*Catalog, error) {
	c := &Catalog{byID: map[string]*Scenario{}}
	var errs []error
	for _, src := range sources {
		seen := map[string]string{}
		ents, err := fs.ReadDir(src.FS, src.Dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: scenarios %s: %w", ErrInvalid, src.Label, err))
			continue
		}
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() || (!strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml")) {
				continue
			}
			file := path.Join(src.Dir, name)
			data, err := fs.ReadFile(src.FS, file)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			label := path.Join(src.Label, name)
			s, err := Parse(label, data)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if other, dup := seen[s.ID]; dup {
				errs = append(errs, fmt.Errorf("%w: %s: id %s is also the id of %s", ErrInvalid, label, s.ID, other))
				continue
			}
			seen[s.ID] = label
			c.byID[s.ID] = s
		}
	}
	return c, errors.Join(errs...)
}

// Source is a directory of scenario files.
type Source struct {
	FS    fs.FS
	Dir   string
	Label string // how files are named in messages (scenarios/, built-in:)
}

// Get returns the scenario id.
func (c *Catalog) Get(id string) (*Scenario, error) {
	if s, ok := c.byID[id]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w %q; scenarios: %s", ErrNotFound, id, strings.Join(c.IDs(), ", "))
}

// IDs lists the ids in priority then id order.
func (c *Catalog) IDs() []string {
	all := c.All()
	ids := make([]string, len(all))
	for i, s := range all {
		ids[i] = s.ID
	}
	return ids
}

// All lists the scenarios in priority then id order.
func (c *Catalog) All() []*Scenario {
	out := make([]*Scenario, 0, len(c.byID))
	for _, s := range c.byID {
		out = append(out, s)
	}
	rank := map[string]int{}
	for i, p := range priorities {
		rank[p] = i
	}
	sort.Slice(out, func(i, j int) bool {
		if rank[out[i].Priority] != rank[out[j].Priority] {
			return rank[out[i].Priority] < rank[out[j].Priority]
		}
		return out[i].ID < out[j].ID
	})
	return out
}
