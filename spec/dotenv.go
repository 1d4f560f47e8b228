package spec

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DotEnvError is a problem in an env file (.env, --env-file, env_file:), on
// the line where the offending statement or value starts.
type DotEnvError struct {
	File string
	Line int
	Msg  string
	// Err is the underlying error, if any: an [*InterpolationError] when a
	// value's interpolation failed.
	Err error
}

func (e *DotEnvError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

func (e *DotEnvError) Unwrap() error { return e.Err }

// ParseDotEnv parses an env file in the format docker compose reads (the
// dotenv package of compose-go, itself a port of godotenv), so a file that
// works with compose means the same to stack. lookup supplies variables for
// interpolation in values (the shell environment); as in compose, it is
// consulted first, and variables defined earlier in the same file only
// when lookup does not know a name. A nil lookup knows no names. filename is
// used only in error messages.
//
// The format, statement by statement:
//
//	# comment                   a line starting with # (after blanks)
//	KEY=value                   also "KEY: value" and "export KEY=value"
//	KEY=value # comment         an unquoted value ends at " #"; blanks around it go
//	KEY='literal $x\n'          no interpolation, no escapes except \'
//	KEY="a\tb ${X:-y}"          escapes \a \b \f \n \r \t \v \\ \" \$ \0NNN, then interpolation
//	KEY                         the value lookup has for KEY; omitted when unset
//
// Unquoted values are interpolated too (see [Interpolate]); \$ and $$ keep a
// literal $. Quoted values may span lines. Names are letters, digits and
// _ . - [ ]. A UTF-8 byte order mark at the start of the file is skipped,
// and CRLF line ends are accepted (a CR inside a quoted value is kept).
//
// Like compose, parsing resumes right after a closing quote, so
// KEY="a" # comment is fine and KEY="a"B=b also sets B. Three compose
// quirks are not kept, each of which can only hide a mistake: an empty name
// (=value) is an error rather than a variable called "", a bare KEY on the
// last line without a newline is looked up like any other bare KEY rather
// than becoming a variable called "", and a tab or other blank inside a
// name is an error, as a space is in both.
//
// Syntax and interpolation errors are [*DotEnvError]s; a read error is
// returned wrapped.
func ParseDotEnv(r io.Reader, filename string, lookup Lookup) (map[string]string, error) {
	out := map[string]string{}
	if err := ParseDotEnvInto(r, filename, lookup, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseDotEnvInto is [ParseDotEnv] adding the variables to vars, which
// already holds those of earlier files: as in compose (compose-go's
// loadMappingFile, which parses every env_file of a service into one
// map), a value may refer to a variable an earlier file set, when lookup
// does not know it, and a later file's value replaces an earlier one's.
// On error vars may hold part of the file.
func ParseDotEnvInto(r io.Reader, filename string, lookup Lookup, vars map[string]string) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read env file %s: %w", filename, err)
	}
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	p := &dotenvParser{
		src:    strings.TrimPrefix(string(data), "\uFEFF"),
		file:   filename,
		lookup: lookup,
		out:    vars,
	}
	return p.parse()
}

type dotenvParser struct {
	src    string
	pos    int
	file   string
	lookup Lookup
	out    map[string]string
}

func (p *dotenvParser) parse() error {
	for {
		p.skipBlank()
		if p.pos == len(p.src) {
			return nil
		}
		if p.src[p.pos] == '#' {
			p.pos = p.lineEnd(p.pos)
			continue
		}
		if err := p.statement(); err != nil {
			return err
		}
	}
}

// statement parses one KEY=value or bare KEY starting at p.pos.
func (p *dotenvParser) statement() error {
	start := p.pos
	line := p.src[start:p.lineEnd(start)]
	if rest, ok := strings.CutPrefix(line, "export"); ok {
		if trimmed := strings.TrimLeftFunc(rest, isBlank); trimmed != rest && trimmed != "" {
			p.pos = start + len(line) - len(trimmed)
		}
	}

	keyStart := p.pos
	sep := -1
	for i, r := range p.src[keyStart:] {
		if r == '=' || r == ':' || r == '\n' {
			sep = keyStart + i
			break
		}
		if isBlank(r) || unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("_.-[]", r) {
			continue
		}
		return p.errorf(start, "unexpected character %q in variable name %q", r, strings.TrimRightFunc(line, unicode.IsSpace))
	}
	end := sep
	if end < 0 {
		end = len(p.src)
	}
	key := strings.TrimRightFunc(p.src[keyStart:end], unicode.IsSpace)
	if strings.ContainsFunc(key, isBlank) {
		return p.errorf(start, "variable name %q contains a space", key)
	}

	if sep < 0 || p.src[sep] == '\n' {
		// A bare KEY passes the variable through from the environment.
		if v, ok := p.lookup(key); ok {
			p.out[key] = v
		}
		p.pos = end
		return nil
	}
	if key == "" {
		return p.errorf(start, "missing variable name before %q", p.src[sep])
	}

	p.pos = sep + 1
	for p.pos < len(p.src) {
		r, size := utf8.DecodeRuneInString(p.src[p.pos:])
		if !isBlank(r) {
			break
		}
		p.pos += size
	}
	value, err := p.value()
	if err != nil {
		return err
	}
	p.out[key] = value
	return nil
}

// value parses the value starting at p.pos and leaves p.pos just past it.
func (p *dotenvParser) value() (string, error) {
	start := p.pos
	if start == len(p.src) || (p.src[start] != '\'' && p.src[start] != '"') {
		end := p.lineEnd(start)
		p.pos = end
		v, _, _ := strings.Cut(p.src[start:end], " #")
		return p.interpolate(start, strings.TrimRightFunc(v, unicode.IsSpace))
	}

	// A backslash escapes the quote character; any other escape is kept
	// as written, for the double-quote pass below (compose does the same).
	quote := p.src[start]
	var b strings.Builder
	escaped := false
	for i := start + 1; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == quote && !escaped:
			p.pos = i + 1
			if quote == '\'' {
				return b.String(), nil
			}
			return p.interpolate(start, expandEscapes(b.String()))
		case c == '\\' && !escaped:
			escaped = true
			continue
		case escaped && c != quote:
			b.WriteByte('\\')
		}
		escaped = false
		b.WriteByte(c)
	}
	return "", p.errorf(start, "unterminated quoted value")
}

func (p *dotenvParser) interpolate(at int, s string) (string, error) {
	v, err := Interpolate(s, func(name string) (string, bool) {
		if v, ok := p.lookup(name); ok {
			return v, true
		}
		v, ok := p.out[name]
		return v, ok
	})
	if err != nil {
		return "", &DotEnvError{File: p.file, Line: p.line(at), Msg: err.Error(), Err: err}
	}
	return v, nil
}

// expandEscapes replaces the escape sequences of a double-quoted value, left
// to right: the XSI echo set, \\, \" and \0NNN (an octal code point). \$
// becomes $$ so that interpolation, which runs next, leaves a literal $.
// Other backslashes are kept.
func expandEscapes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		c := s[i+1]
		switch c {
		case 'a', 'b', 'f', 'n', 'r', 't', 'v', '\\', '"':
			b.WriteByte(controlEscape(c))
			i++
		case '$':
			b.WriteString("$$")
			i++
		case '0':
			j := i + 2
			for j < len(s) && j < i+5 && '0' <= s[j] && s[j] <= '9' {
				j++
			}
			b.WriteString(octalEscape(s[i+2 : j]))
			i = j - 1
		default:
			b.WriteByte('\\')
		}
	}
	return b.String()
}

// controlEscape returns the byte a one-letter escape such as \n stands for.
func controlEscape(c byte) byte {
	switch c {
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return '\v'
	}
	return c // \\ and \"
}

// octalEscape returns what compose makes of \0 followed by digits: the code
// point when they are three octal digits of at most 0377, else a backslash
// and the digits (compose drops the 0 when it cannot decode the sequence).
func octalEscape(digits string) string {
	if len(digits) == 3 {
		v := 0
		for _, d := range []byte(digits) {
			if d > '7' {
				return `\` + digits
			}
			v = v*8 + int(d-'0')
		}
		if v <= 0377 {
			return string(rune(v))
		}
	}
	return `\` + digits
}

// skipBlank moves p.pos past white space, line ends included.
func (p *dotenvParser) skipBlank() {
	for p.pos < len(p.src) {
		r, size := utf8.DecodeRuneInString(p.src[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += size
	}
}

// lineEnd returns the index of the line end at or after i, or len(p.src).
func (p *dotenvParser) lineEnd(i int) int {
	if n := strings.IndexByte(p.src[i:], '\n'); n >= 0 {
		return i + n
	}
	return len(p.src)
}

// line returns the 1-based line number of p.src[i].
func (p *dotenvParser) line(i int) int { return strings.Count(p.src[:i], "\n") + 1 }

func (p *dotenvParser) errorf(at int, format string, args ...any) error {
	return &DotEnvError{File: p.file, Line: p.line(at), Msg: fmt.Sprintf(format, args...)}
}

// isBlank reports whether r is white space within a line, the set compose's
// dotenv parser uses: a line end is not blank, a CR is.
func isBlank(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}
