package spec

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks the merged YAML tree by hand rather than through
// yaml.Unmarshal: every key is checked against the Compose Specification,
// every value may come in the several forms Compose allows, and every
// problem is reported with its position, all of them in one pass.

// fieldKind says what stack does with a Compose key it does not decode.
type fieldKind int

const (
	// unsupported keys are valid Compose that stack does not implement:
	// using one is an error.
	unsupported fieldKind = iota
	// ignored keys cannot change what stack does (Swarm-only options,
	// hints for other tools): using one is a warning.
	ignored
)

// isNull reports whether n is absent or an explicit null.
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "null"
	}
	return "a " + strings.TrimPrefix(n.ShortTag(), "!!") + " (" + strconv.Quote(n.Value) + ")"
}

func (l *loader) wrongType(n *yaml.Node, path, want string) {
	l.errorf(n, path, "must be %s, not %s", want, kindName(n))
}

// str decodes a scalar as text. Numbers and booleans are accepted as their
// text, as Compose does after interpolation.
func (l *loader) str(n *yaml.Node, path string) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		l.wrongType(n, path, "a string")
		return ""
	}
	return n.Value
}

// scalarList decodes a list of scalars, keeping the nodes.
func (l *loader) scalarList(n *yaml.Node, path string) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		l.wrongType(n, path, "a string or a list of strings")
		return nil
	}
	var out []*yaml.Node
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			l.wrongType(c, path+"["+strconv.Itoa(i)+"]", "a string")
			continue
		}
		out = append(out, c)
	}
	return out
}

// strList decodes a list of strings; single allows one bare string too.
func (l *loader) strList(n *yaml.Node, path string, single bool) []string {
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode && !single {
		l.wrongType(n, path, "a list of strings")
		return nil
	}
	var out []string
	for _, c := range l.scalarList(n, path) {
		out = append(out, c.Value)
	}
	return out
}

func (l *loader) boolean(n *yaml.Node, path string) bool {
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			return true
		case "false", "no", "off":
			return false
		}
	}
	l.wrongType(n, path, "true or false")
	return false
}

func (l *loader) boolPtr(n *yaml.Node, path string) *bool {
	if isNull(n) {
		return nil
	}
	b := l.boolean(n, path)
	return &b
}

func (l *loader) integer(n *yaml.Node, path string, min, max int64) int64 {
	if isNull(n) {
		return 0
	}
	if n.Kind == yaml.ScalarNode {
		v, err := strconv.ParseInt(strings.TrimSpace(n.Value), 0, 64)
		if err == nil {
			if v < min || v > max {
				l.errorf(n, path, "%d is out of range: must be between %d and %d", v, min, max)
			}
			return v
		}
	}
	l.wrongType(n, path, "a whole number")
	return 0
}

func (l *loader) intPtr(n *yaml.Node, path string, min, max int64) *int {
	if isNull(n) {
		return nil
	}
	v := int(l.integer(n, path, min, max))
	return &v
}

func (l *loader) uintPtr(n *yaml.Node, path string) *uint64 {
	if isNull(n) {
		return nil
	}
	v := uint64(l.integer(n, path, 0, math.MaxInt64))
	return &v
}

func (l *loader) duration(n *yaml.Node, path string) *Duration {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		l.wrongType(n, path, "a duration such as 30s")
		return nil
	}
	d, err := ParseDuration(n.Value)
	if err != nil {
		l.errorf(n, path, "%v", err)
		return nil
	}
	return &d
}

func (l *loader) byteSize(n *yaml.Node, path string) ByteSize {
	if isNull(n) {
		return 0
	}
	if n.Kind != yaml.ScalarNode {
		l.wrongType(n, path, "a size such as 512m")
		return 0
	}
	b, err := ParseByteSize(n.Value)
	if err != nil {
		l.errorf(n, path, "%v", err)
	}
	return b
}

// cpus decodes a CPU count: a positive decimal number, as a number or a
// string ("0.5").
func (l *loader) cpus(n *yaml.Node, path string) float64 {
	if isNull(n) {
		return 0
	}
	if n.Kind == yaml.ScalarNode {
		f, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64)
		if err == nil && f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	l.errorf(n, path, "invalid CPU count %q: want a positive number such as 0.5 or 2", n.Value)
	return 0
}

// stringMap decodes a mapping of scalars (labels, sysctls). Null values
// become "".
func (l *loader) stringMap(n *yaml.Node, path string) map[string]string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, `a mapping or a list of "KEY=VALUE" strings`)
		return nil
	}
	m := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		m[k.Value] = l.str(v, joinPath(path, k.Value))
	}
	return m
}

// envMap decodes environment-style mappings, where a null value means "take
// the value from the shell".
func (l *loader) envMap(n *yaml.Node, path string) map[string]*string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, `a mapping or a list of "KEY=VALUE" strings`)
		return nil
	}
	m := make(map[string]*string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "" {
			l.errorf(k, path, "empty variable name")
			continue
		}
		if isNull(v) {
			m[k.Value] = nil
			continue
		}
		s := l.str(v, joinPath(path, k.Value))
		m[k.Value] = &s
	}
	return m
}

// command decodes a command line: a list in exec form, or a string split
// the way a POSIX shell splits words.
func (l *loader) command(n *yaml.Node, path string) Command {
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		words, err := SplitShell(n.Value)
		if err != nil {
			l.errorf(n, path, "%v", err)
			return nil
		}
		if words == nil {
			words = Command{}
		}
		return words
	}
	if n.Kind != yaml.SequenceNode {
		l.wrongType(n, path, "a string or a list of strings")
		return nil
	}
	out := Command{}
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			l.wrongType(c, path+"["+strconv.Itoa(i)+"]", "a string")
			continue
		}
		out = append(out, c.Value)
	}
	return out
}

// fields walks the keys of mapping n, calling decode for each. decode
// returns false for a key it does not know; fields then reports it, with a
// suggestion from known, or as unsupported/ignored per extra.
func (l *loader) fields(n *yaml.Node, path string, known []string, extra map[string]fieldKind, decode func(key string, k, v *yaml.Node, p string) bool) {
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, "a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		if seen[k.Value] {
			l.errorf(k, p, "duplicate key: remove one of them")
			continue
		}
		seen[k.Value] = true
		if strings.HasPrefix(k.Value, "x-") {
			continue
		}
		if kind, ok := extra[k.Value]; ok {
			if kind == ignored {
				l.warnf(k, p, "ignored: it has no effect on a single host")
			} else {
				l.notImplemented(k, p, "`"+k.Value+"`")
			}
			continue
		}
		if !decode(k.Value, k, v, p) {
			all := append([]string(nil), known...)
			for e := range extra {
				all = append(all, e)
			}
			l.unknownKey(k, path, all)
		}
	}
}

// extensions collects the x-* keys of mapping n.
func extensions(n *yaml.Node) map[string]any {
	var out map[string]any
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; strings.HasPrefix(k, "x-") {
			var v any
			if err := n.Content[i+1].Decode(&v); err == nil {
				if out == nil {
					out = map[string]any{}
				}
				out[k] = v
			}
		}
	}
	return out
}

// unknownKey reports a key that is not part of the Compose Specification,
// suggesting the closest known key.
func (l *loader) unknownKey(k *yaml.Node, parent string, known []string) {
	msg := "unknown key"
	if s := suggest(k.Value, known); s != "" {
		msg += ": did you mean " + strconv.Quote(s) + "?"
	}
	l.errorf(k, joinPath(parent, k.Value), "%s", msg)
}

// Closest returns the name of known closest to s, if it is close enough
// to be a likely typo of it, or "": the "did you mean" of a stack file's
// keys, and of the CLI's service names.
func Closest(s string, known []string) string { return suggest(s, known) }

// suggest returns the entry of known closest to s by edit distance, if it
// is close enough to be a likely typo.
func suggest(s string, known []string) string {
	best, bestDist := "", len(s)/2+2
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	for _, k := range sorted {
		if d := editDistance(strings.ToLower(s), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, with a swap of two adjacent
// letters counting once.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
