package spec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stack-dev/stack/spec"
)

// fuzzEnv is the environment both fuzzers interpolate against: one set, one
// empty, everything else unset.
func fuzzEnv(name string) (string, bool) {
	switch name {
	case "SET":
		return "first", true
	case "EMPTY":
		return "", true
	}
	return "", false
}

func FuzzInterpolate(f *testing.F) {
	for _, s := range []string{
		"", "plain", "$", "$$", "$$$", "$ ", "a $ b", "^re$", "$}", "${", "${}", "${ }",
		"$SET", "${SET}", "$SET-x", "${SET:-d}", "${EMPTY-d}", "${UNSET:?msg}", "${UNSET?}",
		"${SET:+r}", "${EMPTY+r}", "${UNSET:-${SET:-${X:-y}}}", "${A:-{x}", "${A:-{x}}}",
		"${A:-a\nb}", "${A:", "${A:x}", "${1A}", "${foo!}", "$${SET}", "x${SET}y$SET",
		"${UNSET:-$$}", "${A-${}}", "${A:-${B:?${C}}}", "\x00$\xff${\xfe}", "ü$ü${ü}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := spec.Interpolate(s, fuzzEnv)
		if err != nil {
			var ie *spec.InterpolationError
			if !errors.As(err, &ie) {
				t.Fatalf("Interpolate(%q) error %v is %T, want *spec.InterpolationError", s, err, err)
			}
			if ie.Expr == "" || !strings.HasPrefix(ie.Expr, "${") {
				t.Fatalf("Interpolate(%q) error Expr = %q, want the ${ expression", s, ie.Expr)
			}
		}
		if !strings.Contains(s, "$") && (err != nil || got != s) {
			t.Fatalf("Interpolate(%q) = %q, %v; a string without $ must come back unchanged", s, got, err)
		}
		// Doubling every $ escapes it, so the input must come back.
		escaped := strings.ReplaceAll(s, "$", "$$")
		if got, err := spec.Interpolate(escaped, fuzzEnv); err != nil || got != s {
			t.Fatalf("Interpolate(%q) = %q, %v; want %q", escaped, got, err, s)
		}
	})
}

func FuzzParseDotEnv(f *testing.F) {
	for _, s := range []string{
		"", "\n", "#", "A", "A=", "A=1", "export A=1", "export", "export ", "A: 1", "=x", ":",
		"A=1 # c", "A=1#c", "A='x'", "A='x\\'y'", "A='x", `A="x\"y"`, `A="x`, `A="\0123\0\$X"`,
		"A=\"multi\nline\"\nB=2", "A='multi\r\nline'\r\n", "\uFEFFA=1", "A=${SET:-d}", "A=${",
		"A=\"${UNSET:?need}\"", "A=1\nB=$A", "lol$wut", "A B=1", `A="a"B=b`, "A\nB", "\xff=1",
		"A=\"\\", "A='\\", "export\tA\n", "A=\"${A:-{x}\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A single-quoted value without quotes or backslashes is literal.
		if !strings.ContainsAny(s, `'\`) {
			got, err := spec.ParseDotEnv(strings.NewReader("K='"+s+"'"), ".env", fuzzEnv)
			if err != nil || got["K"] != s {
				t.Fatalf("ParseDotEnv(K='%s') = %q, %v; want %q", s, got["K"], err, s)
			}
		}

		env, err := spec.ParseDotEnv(strings.NewReader(s), ".env", fuzzEnv)
		if err != nil {
			var de *spec.DotEnvError
			if !errors.As(err, &de) {
				t.Fatalf("ParseDotEnv(%q) error %v is %T, want *spec.DotEnvError", s, err, err)
			}
			if de.Line < 1 || de.Line > strings.Count(s, "\n")+1 {
				t.Fatalf("ParseDotEnv(%q) error on line %d, outside the input", s, de.Line)
			}
			return
		}
		for k := range env {
			if k == "" || strings.ContainsAny(k, "=\n \t") {
				t.Fatalf("ParseDotEnv(%q) returned bad name %q", s, k)
			}
		}
	})
}
