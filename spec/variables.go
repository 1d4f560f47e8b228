package spec

import (
	"bytes"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Variable is one variable a stack file refers to, as `config
// --variables` lists it: whether it is required (${VAR:?} or ${VAR?}),
// its default (${VAR:-d}, ${VAR-d}) and its alternate value (${VAR:+a},
// ${VAR+a}).
type Variable struct {
	Name      string
	Required  bool
	Default   string
	Alternate string
}

// Variables returns the variables the expressions of s refer to, operands
// included (${A:-${B}} names A and B), sorted by name. A malformed
// expression ends the scan of s; Interpolate reports it.
func Variables(s string) []Variable {
	found := map[string]*Variable{}
	collectVariables(s, found)
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Variable, 0, len(names))
	for _, n := range names {
		out = append(out, *found[n])
	}
	return out
}

// FileVariables returns the variables the values of a stack file refer
// to (keys and comments are never interpolated), sorted by name.
func FileVariables(data []byte) ([]Variable, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, err
	}
	var b strings.Builder
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			if !isKey {
				b.WriteString(n.Value)
				b.WriteByte('\n')
			}
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		default:
			for _, c := range n.Content {
				walk(c, false)
			}
		}
	}
	walk(&doc, false)
	return Variables(b.String()), nil
}

func collectVariables(s string, found map[string]*Variable) {
	add := func(name string) *Variable {
		v := found[name]
		if v == nil {
			v = &Variable{Name: name}
			found[name] = v
		}
		return v
	}
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		switch c := s[i+1]; {
		case c == '$':
			i++
		case isNameStart(c):
			end := nameEnd(s, i+1)
			add(s[i+1 : end])
			i = end - 1
		case c == '{':
			nameStart := i + 2
			if nameStart >= len(s) || !isNameStart(s[nameStart]) {
				return
			}
			nameStop := nameEnd(s, nameStart)
			if nameStop >= len(s) {
				return
			}
			v := add(s[nameStart:nameStop])
			if s[nameStop] == '}' {
				i = nameStop
				continue
			}
			op := s[nameStop : nameStop+1]
			argStart := nameStop + 1
			if op == ":" && argStart < len(s) {
				op = s[nameStop : nameStop+2]
				argStart++
			}
			end := closingBrace(s, argStart)
			if end < 0 || argStart > end {
				return
			}
			operand := s[argStart:end]
			switch op {
			case ":-", "-":
				v.Default = operand
			case ":+", "+":
				v.Alternate = operand
			case ":?", "?":
				v.Required = true
			default:
				return
			}
			collectVariables(operand, found)
			i = end
		}
	}
}
