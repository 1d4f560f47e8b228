package spec_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stack-dev/stack/spec"
)

// lookupMap returns a Lookup over m; a nil map knows no names.
func lookupMap(m map[string]string) spec.Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestInterpolate(t *testing.T) {
	// SET has a value, EMPTY is set to "", UNSET is not set at all.
	env := map[string]string{"SET": "first", "EMPTY": "", "lower_1": "low"}

	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "no dollar", in: "plain text", want: "plain text"},
		{name: "empty", in: "", want: ""},
		{name: "bare", in: "$SET", want: "first"},
		{name: "braced", in: "${SET}", want: "first"},
		{name: "bare then text", in: "$SET-bar", want: "first-bar"},
		{name: "bare name is greedy", in: "$SETbar", want: ""},
		{name: "braced then text", in: "${SET}bar", want: "firstbar"},
		{name: "lowercase and digits", in: "$lower_1/${lower_1}", want: "low/low"},
		{name: "underscore name", in: "$_", want: ""},
		{name: "unset bare", in: "a${UNSET}b$UNSET", want: "ab"},
		{name: "several", in: "$SET:${SET}:$EMPTY.", want: "first:first:."},

		{name: "escaped dollar", in: "$$", want: "$"},
		{name: "escaped bare", in: "$$SET", want: "$SET"},
		{name: "escaped braced", in: "$${SET}", want: "${SET}"},
		{name: "escape then variable", in: "$$$SET", want: "$first"},
		{name: "lone dollar at end", in: "cost: 5$", want: "cost: 5$"},
		{name: "lone dollar", in: "$", want: "$"},
		{name: "dollar space", in: "a $ string", want: "a $ string"},
		{name: "regex anchor", in: "^REGEX$", want: "^REGEX$"},
		{name: "dollar brace close", in: "$}", want: "$}"},
		{name: "dollar digit", in: "$1 $-", want: "$1 $-"},
		{name: "dollar non-ASCII", in: "$é", want: "$é"},

		// Each operator against a set, an empty and an unset variable.
		{name: ":- set", in: "${SET:-def}", want: "first"},
		{name: ":- empty", in: "${EMPTY:-def}", want: "def"},
		{name: ":- unset", in: "${UNSET:-def}", want: "def"},
		{name: "- set", in: "${SET-def}", want: "first"},
		{name: "- empty", in: "${EMPTY-def}", want: ""},
		{name: "- unset", in: "${UNSET-def}", want: "def"},
		{name: ":? set", in: "${SET:?err}", want: "first"},
		{name: "? set", in: "${SET?err}", want: "first"},
		{name: "? empty", in: "${EMPTY?err}", want: ""},
		{name: ":+ set", in: "${SET:+alt}", want: "alt"},
		{name: ":+ empty", in: "${EMPTY:+alt}", want: ""},
		{name: ":+ unset", in: "${UNSET:+alt}", want: ""},
		{name: "+ set", in: "${SET+alt}", want: "alt"},
		{name: "+ empty", in: "${EMPTY+alt}", want: "alt"},
		{name: "+ unset", in: "${UNSET+alt}", want: ""},
		{name: "empty default", in: "[${UNSET:-}]", want: "[]"},

		{name: "nested default", in: "${UNSET:-${UNSET2:-x}}", want: "x"},
		{name: "nested default used", in: "${UNSET:-${SET:-x}}", want: "first"},
		{name: "bare in default", in: "${UNSET-$SET}", want: "first"},
		{name: "two in default", in: "${UNSET-${SET} ${SET}}", want: "first first"},
		{name: "nested replacement", in: "${EMPTY+$SET ${SET:+second}}", want: "first second"},
		{name: "escape in default", in: "${UNSET:-$$}", want: "$"},
		{name: "escaped braced in default", in: "${UNSET:-$${X}}", want: "${X}"},
		{name: "text around", in: "-ok ${UNSET:-a}b${SET}", want: "-ok abfirst"},
		{name: "operators outside", in: ":-ok ${EMPTY-x} ?+", want: ":-ok  ?+"},
		{name: "operator text in default", in: "${EMPTY:-/non:-alphanumeric}", want: "/non:-alphanumeric"},
		{name: "first operator wins", in: "${UNSET-myerror?msg}", want: "myerror?msg"},
		{name: "brace after expression", in: "${UNSET:-x}}", want: "x}"},
		{name: "balanced braces in default", in: "${UNSET:-{x}}", want: "{x}"},
		{name: "balanced braces skipped when set", in: "${SET:-{x}}", want: "first"},
		{name: "unbalanced brace in default", in: "${UNSET:-{x}", want: "{x"},
		// compose skips the character after a {, so these close late or early.
		{name: "brace quirk closes late", in: "${UNSET+{}}0}", want: ""},
		{name: "brace quirk closes early", in: "${SET:-{{x}}}", want: "first}"},
		{name: "empty braces in default", in: "${UNSET:-{}}", want: "{}"},
		{name: "multi-line value", in: "a\n${SET}\n$SET", want: "a\nfirst\nfirst"},
		{name: "unicode around", in: "ü${SET}ü", want: "üfirstü"},
		// As in compose, an operand is interpolated only when it is used.
		{name: "unused default not evaluated", in: "${SET:-${NEEDED:?}}", want: "first"},
		{name: "unused replacement not evaluated", in: "${UNSET:+${}}", want: ""},
		{name: "unused message not evaluated", in: "${SET:?${}}", want: "first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := spec.Interpolate(tt.in, lookupMap(env))
			if err != nil {
				t.Fatalf("Interpolate(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Interpolate(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestInterpolateErrors(t *testing.T) {
	env := map[string]string{"SET": "first", "EMPTY": ""}

	tests := []struct {
		name     string
		in       string
		wantExpr string
		wantMsg  string
	}{
		{name: ":? empty", in: "x ${EMPTY:?must be set}", wantExpr: "${EMPTY:?must be set}",
			wantMsg: "required variable EMPTY is missing a value: must be set"},
		{name: ":? unset", in: "${UNSET:?must be set}", wantExpr: "${UNSET:?must be set}",
			wantMsg: "required variable UNSET is missing a value: must be set"},
		{name: "? unset", in: "${UNSET?must be set}", wantExpr: "${UNSET?must be set}",
			wantMsg: "required variable UNSET is missing a value: must be set"},
		{name: ":? no message", in: "${UNSET:?}", wantExpr: "${UNSET:?}",
			wantMsg: "required variable UNSET is missing a value"},
		{name: "? no message", in: "${UNSET?}", wantExpr: "${UNSET?}",
			wantMsg: "required variable UNSET is missing a value"},
		{name: "message interpolated", in: "${UNSET:?need ${SET}}", wantExpr: "${UNSET:?need ${SET}}",
			wantMsg: "required variable UNSET is missing a value: need first"},
		{name: "first operator wins", in: "${UNSET?bar-baz}", wantExpr: "${UNSET?bar-baz}",
			wantMsg: "required variable UNSET is missing a value: bar-baz"},
		{name: "nested required", in: "${UNSET:-${NEEDED:?set it}}", wantExpr: "${NEEDED:?set it}",
			wantMsg: "required variable NEEDED is missing a value: set it"},
		{name: "used operand evaluated", in: "${EMPTY:-${NEEDED:?}}", wantExpr: "${NEEDED:?}",
			wantMsg: "required variable NEEDED is missing a value"},
		{name: "message with invalid expression", in: "${UNSET:?${}}", wantExpr: "${}",
			wantMsg: `invalid interpolation format for "${}"`},

		{name: "open only", in: "${", wantExpr: "${", wantMsg: `invalid interpolation format for "${"`},
		{name: "empty braces", in: "${}", wantExpr: "${}", wantMsg: `invalid interpolation format for "${}"`},
		{name: "space only", in: "${ }", wantExpr: "${ }", wantMsg: `invalid interpolation format for "${ }"`},
		{name: "leading space", in: "${ foo}", wantExpr: "${ foo}", wantMsg: `invalid interpolation format for "${ foo}"`},
		{name: "trailing space", in: "${foo }", wantExpr: "${foo }", wantMsg: `invalid interpolation format for "${foo }"`},
		{name: "bad character", in: "a ${foo!} b", wantExpr: "${foo!}", wantMsg: `invalid interpolation format for "${foo!}"`},
		{name: "digit first", in: "${1A}", wantExpr: "${1A}", wantMsg: `invalid interpolation format for "${1A}"`},
		{name: "unterminated", in: "${SET", wantExpr: "${SET", wantMsg: `invalid interpolation format for "${SET"`},
		{name: "unterminated default", in: "x ${SET:-y", wantExpr: "${SET:-y", wantMsg: `invalid interpolation format for "${SET:-y"`},
		{name: "colon alone", in: "${SET:}", wantExpr: "${SET:}", wantMsg: `invalid interpolation format for "${SET:}"`},
		{name: "colon then text", in: "${SET:x}", wantExpr: "${SET:x}", wantMsg: `invalid interpolation format for "${SET:x}"`},
		{name: "colon at end", in: "${SET:", wantExpr: "${SET:", wantMsg: `invalid interpolation format for "${SET:"`},
		{name: "nested invalid", in: "${UNSET:-${}}", wantExpr: "${}", wantMsg: `invalid interpolation format for "${}"`},
		{name: "spans lines", in: "${UNSET:-a\nb}", wantExpr: "${UNSET:-a", wantMsg: `invalid interpolation format for "${UNSET:-a"`},
		{name: "after valid text", in: "$SET ${SET", wantExpr: "${SET", wantMsg: `invalid interpolation format for "${SET"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := spec.Interpolate(tt.in, lookupMap(env))
			if err == nil {
				t.Fatalf("Interpolate(%q) = %q, want an error", tt.in, got)
			}
			var ie *spec.InterpolationError
			if !errors.As(err, &ie) {
				t.Fatalf("Interpolate(%q) error %v is %T, want *spec.InterpolationError", tt.in, err, err)
			}
			if ie.Expr != tt.wantExpr {
				t.Errorf("Expr = %q, want %q", ie.Expr, tt.wantExpr)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error = %q, want %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

func TestInterpolateNilLookup(t *testing.T) {
	got, err := spec.Interpolate("a${X:-b}$Y", nil)
	if err != nil || got != "ab" {
		t.Errorf(`Interpolate with nil lookup = %q, %v; want "ab", nil`, got, err)
	}
}

func ExampleInterpolate() {
	env := map[string]string{"TAG": "1.2", "EMPTY": ""}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	for _, s := range []string{
		"nginx:${TAG:-latest}",
		"${EMPTY:-unset or empty} ${EMPTY-unset only}",
		"$$HOME is left to the container",
		"${DB_PASSWORD:?set it in .env}",
	} {
		v, err := spec.Interpolate(s, lookup)
		fmt.Printf("%q %v\n", v, err)
	}
	// Output:
	// "nginx:1.2" <nil>
	// "unset or empty " <nil>
	// "$HOME is left to the container" <nil>
	// "" required variable DB_PASSWORD is missing a value: set it in .env
}
