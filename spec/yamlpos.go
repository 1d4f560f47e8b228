package spec

import (
	"fmt"
	"strings"
)

// yaml.v3 names the line where the parser gave up, which is often not the
// line with the mistake: a key dedented to no enclosing level is reported
// at the start of the mapping ("line 1: did not find expected key"), a
// missing colon on the line after it ("mapping values are not allowed in
// this context"), and a tab as "found character that cannot start any
// token". yamlDiagnosis reads the text again, line by line, to find the
// first line that breaks the rules of block indentation, and says what
// is wrong with it in the user's terms.

// yamlProblem is a mistake found in a stack file's text.
type yamlProblem struct {
	line, col int
	msg       string
}

// yamlLine is one line of YAML with what the diagnosis needs of it.
type yamlLine struct {
	num    int    // 1-based
	indent int    // spaces before the content
	text   string // the content, comments cut
	item   bool   // "- ..."
}

// yamlDiagnosis returns the first line of data that breaks block
// indentation rules, or ok false when it finds none.
func yamlDiagnosis(data []byte) (yamlProblem, bool) {
	type level struct {
		indent int
		key    string
	}
	var stack []level  // enclosing block mappings and sequences
	var prev *yamlLine // the previous line with content
	prevOpens := false // prev ends with ':' and no value: a block follows
	blockScalar := -1  // indent of the key of a | or > scalar being read
	flowDepth := 0     // open [ and { of a flow collection spanning lines
	flowStart := yamlProblem{}
	for i, raw := range strings.Split(string(data), "\n") {
		raw = strings.TrimRight(raw, "\r")
		if strings.TrimSpace(raw) == "" {
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		rest := raw[indent:]
		if blockScalar >= 0 {
			if indent > blockScalar || strings.TrimSpace(raw) == "" {
				continue
			}
			blockScalar = -1
		}
		if flowDepth > 0 {
			flowDepth += flowBalance(rest)
			continue
		}
		if rest[0] == '#' {
			continue
		}
		if lead := raw[:len(raw)-len(strings.TrimLeft(raw, " \t"))]; strings.ContainsRune(lead, '\t') {
			col := strings.IndexByte(lead, '\t') + 1
			return yamlProblem{i + 1, col, "a tab character indents this line: YAML indents with spaces only, replace the tab with spaces"}, true
		}
		if strings.HasPrefix(rest, "---") || strings.HasPrefix(rest, "...") || strings.HasPrefix(rest, "%") {
			stack, prev, prevOpens = nil, nil, false
			continue
		}
		l := yamlLine{num: i + 1, indent: indent, text: stripComment(rest)}
		l.item = l.text == "-" || strings.HasPrefix(l.text, "- ")
		_, value, isKey := splitKey(l.text)
		if l.item {
			// "- key: value" opens a mapping at the key's column.
			_, value, isKey = splitKey(strings.TrimLeft(l.text[1:], " "))
		}
		switch {
		case prev == nil:
		case indent > prev.indent:
			if !prevOpens && !(prev.item && !isKey) {
				if pk, _, ok := splitKey(prev.text); ok && !prev.item {
					return yamlProblem{l.num, indent + 1, fmt.Sprintf("this line is indented %s, more than the key %q above it (%s), which already has a value: line it up with %q", spaces(indent), pk, spaces(prev.indent), pk)}, true
				}
			}
			stack = append(stack, level{prev.indent, ""})
		case indent < prev.indent:
			above := prev.indent // the nearest level deeper than the line
			for len(stack) > 0 && stack[len(stack)-1].indent > indent {
				above = stack[len(stack)-1].indent
				stack = stack[:len(stack)-1]
			}
			if len(stack) > 0 && stack[len(stack)-1].indent != indent && !(l.item && stack[len(stack)-1].indent < indent) {
				below := stack[len(stack)-1].indent
				return yamlProblem{l.num, indent + 1, fmt.Sprintf("this line is indented %s, between the levels of the keys around it (%d and %d spaces): line it up with one of them", spaces(indent), below, above)}, true
			}
			if len(stack) == 0 && indent > 0 {
				return yamlProblem{l.num, indent + 1, fmt.Sprintf("this line is indented %s, but no key encloses it: a top-level key starts in column 1", spaces(indent))}, true
			}
		}
		if !isKey && !l.item && !strings.HasPrefix(l.text, "[") && !strings.HasPrefix(l.text, "{") && !strings.HasPrefix(l.text, "\"") && !strings.HasPrefix(l.text, "'") && !strings.HasPrefix(l.text, "&") && !strings.HasPrefix(l.text, "*") && !strings.HasPrefix(l.text, "!") {
			inMapping := prev == nil || indent <= prev.indent || prevOpens
			if inMapping && (prev == nil || !prev.item || indent <= prev.indent) {
				word := strings.Fields(l.text)[0]
				return yamlProblem{l.num, indent + len(word) + 1, fmt.Sprintf("missing ':' after %q: a key is followed by a colon (%q)", word, word+":")}, true
			}
		}
		if isKey {
			if v := strings.TrimSpace(value); strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
				blockScalar = indent
				if l.item {
					blockScalar = indent + 1
				}
			}
			flowDepth = flowBalance(value)
			if flowDepth < 0 {
				flowDepth = 0
			}
			if flowDepth > 0 {
				flowStart = yamlProblem{l.num, indent + len(l.text) - len(value) + 1, ""}
			}
		}
		cur := l
		prev = &cur
		prevOpens = isKey && strings.TrimSpace(value) == "" || l.text == "-"
	}
	if flowDepth > 0 {
		flowStart.msg = "this [ or { is never closed: end the list or mapping with ] or }"
		return flowStart, true
	}
	return yamlProblem{}, false
}

// spaces says "1 space", "4 spaces".
func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}

// splitKey splits "key: value" and "key:"; ok is false for a line that is
// not a mapping entry.
func splitKey(s string) (key, value string, ok bool) {
	if s == "" || s[0] == '"' || s[0] == '\'' || s[0] == '[' || s[0] == '{' {
		if q := s[0]; q == '"' || q == '\'' {
			if end := strings.IndexByte(s[1:], q); end >= 0 {
				after := s[end+2:]
				if strings.HasPrefix(after, ":") && (len(after) == 1 || after[1] == ' ') {
					return s[1 : end+1], strings.TrimPrefix(after[1:], " "), true
				}
			}
		}
		return "", "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ':' && (i+1 == len(s) || s[i+1] == ' ') {
			return s[:i], strings.TrimPrefix(s[i+1:], " "), true
		}
	}
	return "", "", false
}

// stripComment cuts a " #" comment off a line, outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if i == 0 || s[i-1] == ' ' || s[i-1] == ':' || s[i-1] == '[' || s[i-1] == ',' {
				quote = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimRight(s[:i], " ")
		}
	}
	return strings.TrimRight(s, " ")
}

// flowBalance counts the [ and { a line opens, less those it closes,
// outside quotes.
func flowBalance(s string) int {
	n := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			n++
		case c == ']' || c == '}':
			n--
		}
	}
	return n
}
