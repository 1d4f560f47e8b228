package spec

import (
	"fmt"
	"strings"
)

// Lookup returns the value of a variable and whether it is set. The
// difference between unset and set-but-empty matters: ${VAR-x} and ${VAR:-x}
// treat them differently.
type Lookup func(name string) (string, bool)

// InterpolationError is a problem with one ${...} expression: a malformed
// expression, or a required variable (${VAR:?msg}) that has no value. It
// carries no position; the caller knows which file, line and column the
// scalar came from and adds them.
type InterpolationError struct {
	// Expr is the offending text, from the $ on: "${1A}", "${VAR:?msg}".
	Expr string
	// Msg is the whole message, already naming Expr or the variable.
	Msg string
}

func (e *InterpolationError) Error() string { return e.Msg }

// Interpolate substitutes variables in one scalar value s, as docker compose
// does (compose-go's template package; Compose Specification,
// "Interpolation"):
//
//	$VAR ${VAR}       the value, or "" when unset
//	${VAR:-default}   default when VAR is unset or empty
//	${VAR-default}    default when VAR is unset
//	${VAR:?message}   error when VAR is unset or empty
//	${VAR?message}    error when VAR is unset
//	${VAR:+other}     other when VAR is set and not empty, else ""
//	${VAR+other}      other when VAR is set, else ""
//	$$                a literal $
//
// Names match [A-Za-z_][A-Za-z0-9_]*. The text after an operator is itself
// interpolated when it is used, so defaults nest (${A:-${B:-x}}); an operand
// that is not used is not looked at, so ${SET:-${UNSET:?}} is fine. A $ that
// is not followed by $, a name or { is kept as it is ("a $ sign", "^x$"),
// because compose keeps it. A ${ that does not form a valid expression is an
// [*InterpolationError], and so is a missing required variable.
//
// Like compose's pattern, an expression cannot span lines, and when the
// braces inside an operand do not balance, the expression ends at the last }
// of the line. Braces are counted as compose counts them, which is not
// always as they look: the character right after a { is skipped, so
// ${SET:-{{x}}} is the value of SET followed by "}".
func Interpolate(s string, lookup Lookup) (string, error) {
	return interpolate(s, lookup, nil)
}

// UnsetVariableWarning is compose's warning for a $VAR or ${VAR} whose
// variable is not set (compose-go's template.DefaultReplacementAppliedFunc),
// word for word.
func UnsetVariableWarning(name string) string {
	return fmt.Sprintf("The %q variable is not set. Defaulting to a blank string.", name)
}

// interpolate is Interpolate calling unset, when not nil, with the name of
// every plain $VAR or ${VAR} that lookup does not know: the expressions
// compose warns about. The forms with an operator say what to do when the
// variable is unset, and are not reported.
func interpolate(s string, lookup Lookup, unset func(name string)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
		if i+1 == len(s) {
			b.WriteByte('$')
			break
		}
		switch c := s[i+1]; {
		case c == '$':
			b.WriteByte('$')
			i += 2
		case isNameStart(c):
			end := nameEnd(s, i+1)
			v, ok := lookup(s[i+1 : end])
			if !ok && unset != nil {
				unset(s[i+1 : end])
			}
			b.WriteString(v)
			i = end
		case c == '{':
			v, end, err := interpolateBraced(s, i, lookup, unset)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

// interpolateBraced evaluates the ${...} expression that starts at s[start]
// and returns its value and the index just past its closing brace.
func interpolateBraced(s string, start int, lookup Lookup, unset func(string)) (string, int, error) {
	lineEnd := len(s)
	if nl := strings.IndexByte(s[start:], '\n'); nl >= 0 {
		lineEnd = start + nl
	}
	nameStart := start + 2
	if nameStart >= lineEnd || !isNameStart(s[nameStart]) {
		return "", 0, invalidExpr(s[start:lineEnd])
	}
	nameStop := nameEnd(s[:lineEnd], nameStart)
	name := s[nameStart:nameStop]
	if nameStop == lineEnd {
		return "", 0, invalidExpr(s[start:lineEnd])
	}
	if s[nameStop] == '}' {
		v, ok := lookup(name)
		if !ok && unset != nil {
			unset(name)
		}
		return v, nameStop + 1, nil
	}

	op := s[nameStop : nameStop+1]
	argStart := nameStop + 1
	if op == ":" && argStart < lineEnd {
		op = s[nameStop : nameStop+2]
		argStart++
	}
	switch op {
	case ":-", "-", ":?", "?", ":+", "+":
	default:
		return "", 0, invalidExpr(s[start:lineEnd])
	}
	end := closingBrace(s[:lineEnd], argStart)
	if end < 0 {
		return "", 0, invalidExpr(s[start:lineEnd])
	}
	expr := s[start : end+1]

	// The operand is interpolated only when it is used, as in compose:
	// ${SET:-${UNSET:?}} is fine.
	operand := func() (string, error) { return interpolate(s[argStart:end], lookup, unset) }
	value, set := lookup(name)
	use := false
	switch op {
	case ":-":
		use = !set || value == ""
	case "-":
		use = !set
	case ":+":
		use = set && value != ""
	case "+":
		use = set
	case ":?", "?":
		if set && (op == "?" || value != "") {
			break
		}
		msg, err := operand()
		if err != nil {
			return "", 0, err
		}
		text := "required variable " + name + " is missing a value"
		if msg != "" {
			text += ": " + msg
		}
		return "", 0, &InterpolationError{Expr: expr, Msg: text}
	}
	if use {
		v, err := operand()
		if err != nil {
			return "", 0, err
		}
		value = v
	}
	return value, end + 1, nil
}

// closingBrace returns the index of the } that closes an expression whose
// operand starts at s[from], or -1. Braces inside the operand nest, so
// ${A:-${B:-x}} closes at the last brace. The counting is compose's, quirk
// included: the character right after a { is not looked at, so in
// ${A:-{}} the first } does not close anything. When the braces do not
// balance, compose's pattern falls back to the last } on the line, and so
// does this.
func closingBrace(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
			i++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	if i := strings.LastIndexByte(s[from:], '}'); i >= 0 {
		return from + i
	}
	return -1
}

func invalidExpr(text string) *InterpolationError {
	// Name the expression up to its first }, not the rest of the line.
	if i := strings.IndexByte(text, '}'); i >= 0 {
		text = text[:i+1]
	}
	return &InterpolationError{
		Expr: text,
		Msg:  fmt.Sprintf("invalid interpolation format for %q", text),
	}
}

func isNameStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || ('0' <= c && c <= '9') }

// nameEnd returns the index just past the variable name that starts at
// s[from].
func nameEnd(s string, from int) int {
	i := from
	for i < len(s) && isNameChar(s[i]) {
		i++
	}
	return i
}
