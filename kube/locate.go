package kube

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// path is the place of a key in the stack file: mapping keys as strings,
// sequence indexes as ints ("services", "web", "volumes", 0).
type path []any

// at builds a path.
func at(segs ...any) path { return segs }

// with returns p extended by segs, leaving p alone.
func (p path) with(segs ...any) path {
	out := make(path, 0, len(p)+len(segs))
	return append(append(out, p...), segs...)
}

// String prints the path the way spec prints field paths:
// services.web.volumes[0].
func (p path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, s)
		}
	}
	return b.String()
}

// locator finds the file, line and column a key of the loaded project came
// from. spec.Project keeps no positions, so the locator reads the stack
// files again and walks each to the key; the last file that has it wins,
// as it does in the merge. A key that came from an include or extends file
// (or from stdin) is not found: its errors name the first stack file
// without a line.
type locator struct {
	files []string
	docs  []*yaml.Node // nil where a file could not be read
}

func newLocator(files []string) *locator {
	l := &locator{files: files, docs: make([]*yaml.Node, len(files))}
	for i, f := range files {
		if f == "-" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) == 1 {
			l.docs[i] = doc.Content[0]
		}
	}
	return l
}

// find returns where p is written: the file, and the line and column of
// its key (for a mapping key) or entry (for a sequence index), or 0, 0.
func (l *locator) find(p path) (file string, line, col int) {
	for i := len(l.docs) - 1; i >= 0; i-- {
		if n := walk(l.docs[i], p); n != nil {
			return l.files[i], n.Line, n.Column
		}
	}
	if len(l.files) > 0 {
		return l.files[0], 0, 0
	}
	return "stack file", 0, 0
}

// walk follows p from n and returns the node naming its last segment.
func walk(n *yaml.Node, p path) *yaml.Node {
	var found *yaml.Node
	for _, seg := range p {
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil {
			return nil
		}
		switch seg := seg.(type) {
		case int:
			if n.Kind != yaml.SequenceNode || seg < 0 || seg >= len(n.Content) {
				return nil
			}
			n = n.Content[seg]
			found = n
		default:
			key := fmt.Sprint(seg)
			if n.Kind == yaml.SequenceNode {
				// The list form of a mapping (environment: [KEY=value]).
				var entry *yaml.Node
				for _, e := range n.Content {
					if e.Kind == yaml.ScalarNode && (e.Value == key || strings.HasPrefix(e.Value, key+"=")) {
						entry = e
					}
				}
				if entry == nil {
					return nil
				}
				found, n = entry, entry
				continue
			}
			if n.Kind != yaml.MappingNode {
				return nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					found, next = n.Content[i], n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		}
	}
	return found
}

// itoa is strconv.Itoa for int32 ports.
func itoa(n int32) string { return strconv.Itoa(int(n)) }
