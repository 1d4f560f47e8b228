package spec_test

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stack-dev/stack/spec"
)

func TestParseDotEnv(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		lookup map[string]string
		want   map[string]string
	}{
		{name: "empty file", in: "", want: map[string]string{}},
		{name: "blank lines and comments", in: "\n\n# a comment\n\t # indented\n   \nA=1\n#B=2\n", want: map[string]string{"A": "1"}},
		{name: "several", in: "ONE=1\nTWO='2'\nTHREE = \"3\"", want: map[string]string{"ONE": "1", "TWO": "2", "THREE": "3"}},
		{name: "blanks around key and value", in: "  KEY \t=\t value  \n", want: map[string]string{"KEY": "value"}},
		{name: "later wins", in: "A=1\nA=2\n", want: map[string]string{"A": "2"}},
		{name: "empty value", in: "A=\nB=   \nC=''\nD=\"\"\n", want: map[string]string{"A": "", "B": "", "C": "", "D": ""}},
		{name: "equals in value", in: "A=foo=bar=\n", want: map[string]string{"A": "foo=bar="}},
		{name: "url value", in: "A=postgres://localhost:5432/db?sslmode=disable\n", want: map[string]string{"A": "postgres://localhost:5432/db?sslmode=disable"}},
		{name: "yaml style", in: "A: 1\nB:Foo=bar\n", want: map[string]string{"A": "1", "B": "Foo=bar"}},
		{name: "colon in value", in: "A=1:B\n", want: map[string]string{"A": "1:B"}},
		{name: "name characters", in: "VAR-WITH-DASHES=a\nVAR.WITH.DOTS=b\nVAR_1=c\narr[0]=d\nÄÖ=e\n",
			want: map[string]string{"VAR-WITH-DASHES": "a", "VAR.WITH.DOTS": "b", "VAR_1": "c", "arr[0]": "d", "ÄÖ": "e"}},

		{name: "export", in: "export A=2\n", want: map[string]string{"A": "2"}},
		{name: "export tab", in: "export\tA=2\n", want: map[string]string{"A": "2"}},
		{name: "export indented", in: "  export A=2\n\texport B=3", want: map[string]string{"A": "2", "B": "3"}},
		{name: "export quoted", in: `export A="export A"`, want: map[string]string{"A": "export A"}},
		{name: "export is part of name", in: "exportFOO=1\nexport_FOO =2\nexport.FOO= 3\nexport=4\n",
			want: map[string]string{"exportFOO": "1", "export_FOO": "2", "export.FOO": "3", "export": "4"}},

		{name: "unquoted trailing blanks", in: "A=bar  \t\n", want: map[string]string{"A": "bar"}},
		{name: "unquoted inner blanks", in: "A=some  words here\n", want: map[string]string{"A": "some  words here"}},
		{name: "inline comment", in: "A=bar # this is a comment\nB=bar #\nC=bar #no space after", want: map[string]string{"A": "bar", "B": "bar", "C": "bar"}},
		{name: "hash without space", in: "A=123#not-a-comment\nB=#x\nC= #y\n", want: map[string]string{"A": "123#not-a-comment", "B": "#x", "C": "#y"}},
		{name: "tab hash is not a comment", in: "A=bar\t#x\n", want: map[string]string{"A": "bar\t#x"}},
		{name: "unquoted escapes kept", in: `A=a\tb\n`, want: map[string]string{"A": `a\tb\n`}},

		{name: "single quoted literal", in: `A='$SET ${SET} \n \t "x"'`, lookup: map[string]string{"SET": "v"},
			want: map[string]string{"A": `$SET ${SET} \n \t "x"`}},
		{name: "single quoted escaped quote", in: `A='it\'s'`, want: map[string]string{"A": "it's"}},
		{name: "single quoted backslashes", in: `A='a\\b\c'`, want: map[string]string{"A": `a\\b\c`}},
		{name: "single quoted hash", in: "A='ba#r' # comment\n", want: map[string]string{"A": "ba#r"}},
		{name: "single quoted multi-line", in: "A='one\ntwo\n  three'\nB=b\n", want: map[string]string{"A": "one\ntwo\n  three", "B": "b"}},

		{name: "double quoted", in: `A="bar"`, want: map[string]string{"A": "bar"}},
		{name: "double quoted escapes", in: `A="Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\Z\0123Z"`, want: map[string]string{"A": "Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ"}},
		{name: "double quoted escaped quote", in: `A="escaped\"bar"` + "\n" + `B="\"quoted\""`, want: map[string]string{"A": `escaped"bar`, "B": `"quoted"`}},
		{name: "double quoted single quotes", in: `A="'d'"`, want: map[string]string{"A": "'d'"}},
		{name: "double quoted unknown escapes kept", in: `A="\x07 \u12e4 \c \ b"`, want: map[string]string{"A": `\x07 \u12e4 \c \ b`}},
		{name: "double quoted backslash before n", in: `A="bar\\nbaz\\"`, want: map[string]string{"A": `bar\nbaz\`}},
		{name: "octal escapes", in: `A="\0101|\0|\01|\0777|\0189|\01234"`, want: map[string]string{"A": `A|\|\1|\777|\189|S4`}},
		{name: "double quoted hash", in: `A="bar#baz" # comment` + "\nB=\"x\"#", want: map[string]string{"A": "bar#baz", "B": "x"}},
		{name: "double quoted multi-line", in: "A=\"first line\nsecond line\"\nB=b", want: map[string]string{"A": "first line\nsecond line", "B": "b"}},
		{name: "double quoted interpolation", in: "SET=v\nA=\"quote $SET ${SET:-x} ${NONE:-dflt}\"", want: map[string]string{"SET": "v", "A": "quote v v dflt"}},
		{name: "double quoted escaped dollar", in: "SET=v\nA=\"a\\$SET\"\nB=\"b\\${SET}\"\nC=\"c$$SET\"", want: map[string]string{"SET": "v", "A": "a$SET", "B": "b${SET}", "C": "c$SET"}},
		{name: "double quoted backslash then variable", in: "SET=v\nA=\"\\\\$SET\"", want: map[string]string{"SET": "v", "A": `\v`}},
		{name: "value after quote continues", in: `A="a"B=b`, want: map[string]string{"A": "a", "B": "b"}},

		{name: "unquoted interpolation", in: "SET=v\nA=$SET\nB=${SET}bar\nC=$$SET\nD=$NONE", want: map[string]string{"SET": "v", "A": "v", "B": "vbar", "C": "$SET", "D": ""}},
		{name: "earlier in file", in: "A=1\nB=${A}_${A}\nC=${A:?need}", want: map[string]string{"A": "1", "B": "1_1", "C": "1"}},
		{name: "defaults", in: "A=${NONE:-1}\nB=${A:-2}\nE=\nF=${E-x}|${E:-y}", want: map[string]string{"A": "1", "B": "1", "E": "", "F": "|y"}},
		// compose's rule: the environment is asked before the file, but
		// the file's own value is what it sets.
		{name: "lookup before file", in: "A=1\nB=$A\nC=\"$A\"", lookup: map[string]string{"A": "5"},
			want: map[string]string{"A": "1", "B": "5", "C": "5"}},
		{name: "lookup for unknown", in: "B=${SHELL_ONLY}", lookup: map[string]string{"SHELL_ONLY": "s"}, want: map[string]string{"B": "s"}},

		{name: "bare key from lookup", in: "A\nB=b\n", lookup: map[string]string{"A": "from env"}, want: map[string]string{"A": "from env", "B": "b"}},
		{name: "bare key unset is omitted", in: "A\nB=b\n", want: map[string]string{"B": "b"}},
		{name: "bare key set empty", in: "A\n", lookup: map[string]string{"A": ""}, want: map[string]string{"A": ""}},
		{name: "bare key at end of file", in: "B=b\nA", lookup: map[string]string{"A": "x"}, want: map[string]string{"B": "b", "A": "x"}},
		{name: "bare key with export", in: "export A\n", lookup: map[string]string{"A": "x"}, want: map[string]string{"A": "x"}},
		{name: "bare key with blanks", in: "  A  \r\n", lookup: map[string]string{"A": "x"}, want: map[string]string{"A": "x"}},
		{name: "bare key ignores the file", in: "A=1\nA\n", want: map[string]string{"A": "1"}},
		{name: "bare export", in: "export\n", lookup: map[string]string{"export": "x"}, want: map[string]string{"export": "x"}},

		{name: "CRLF", in: "A=1\r\nB='two'\r\nC=\"three\"\r\n# c\r\n\r\nD=four # c\r\nE: 5\r\n",
			want: map[string]string{"A": "1", "B": "two", "C": "three", "D": "four", "E": "5"}},
		{name: "CRLF inside quotes kept", in: "A=\"x\r\ny\"\r\n", want: map[string]string{"A": "x\r\ny"}},
		{name: "BOM", in: "\uFEFFA=1\nB=2\n", want: map[string]string{"A": "1", "B": "2"}},
		{name: "BOM and comment", in: "\uFEFF# c\nA=1", want: map[string]string{"A": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lookup spec.Lookup
			if tt.lookup != nil {
				lookup = lookupMap(tt.lookup)
			}
			got, err := spec.ParseDotEnv(strings.NewReader(tt.in), ".env", lookup)
			if err != nil {
				t.Fatalf("ParseDotEnv(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseDotEnv(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDotEnvErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		// wantInterp says the error wraps an *spec.InterpolationError.
		wantInterp bool
	}{
		{name: "unterminated double", in: `KEY="`, wantErr: ".env:1: unterminated quoted value"},
		{name: "unterminated double value", in: `KEY="value`, wantErr: ".env:1: unterminated quoted value"},
		{name: "escaped closing double", in: `KEY="value\"`, wantErr: ".env:1: unterminated quoted value"},
		{name: "mismatched quotes", in: `KEY="value'`, wantErr: ".env:1: unterminated quoted value"},
		{name: "unterminated single", in: `KEY='`, wantErr: ".env:1: unterminated quoted value"},
		{name: "escaped closing single", in: `KEY='value\'`, wantErr: ".env:1: unterminated quoted value"},
		{name: "mismatched single", in: `KEY='value"`, wantErr: ".env:1: unterminated quoted value"},
		{name: "unterminated on line 3", in: "A=1\n# c\nC=\"x\ny\nz", wantErr: ".env:3: unterminated quoted value"},
		{name: "line after multi-line value", in: "A='x\ny'\nB=\"z", wantErr: ".env:3: unterminated quoted value"},
		{name: "line after CRLF", in: "A=1\r\n\r\nB='z", wantErr: ".env:3: unterminated quoted value"},

		{name: "bad character", in: "lol$wut", wantErr: `.env:1: unexpected character '$' in variable name "lol$wut"`},
		{name: "bad character later", in: "A=1\n\nB#=2\r\n", wantErr: `.env:3: unexpected character '#' in variable name "B#=2"`},
		{name: "quote in name", in: `"A"=1`, wantErr: `.env:1: unexpected character '"' in variable name "\"A\"=1"`},
		{name: "space in name", in: "FOO BAR=1", wantErr: `.env:1: variable name "FOO BAR" contains a space`},
		{name: "tab in name", in: "FOO\tBAR=1", wantErr: `.env:1: variable name "FOO\tBAR" contains a space`},
		{name: "space in bare name", in: "FOO BAR\n", wantErr: `.env:1: variable name "FOO BAR" contains a space`},
		{name: "empty name", in: `="value"`, wantErr: `.env:1: missing variable name before '='`},
		{name: "empty yaml name", in: "A=1\n: x", wantErr: `.env:2: missing variable name before ':'`},

		{name: "required unset", in: "A=1\nB=${NEED:?set NEED}", wantErr: ".env:2: required variable NEED is missing a value: set NEED", wantInterp: true},
		{name: "required empty", in: "E=\nB=${E:?}", wantErr: ".env:2: required variable E is missing a value", wantInterp: true},
		{name: "invalid unquoted", in: "A=${", wantErr: `.env:1: invalid interpolation format for "${"`, wantInterp: true},
		{name: "invalid double quoted", in: "A=1\nB=\"x\n${1A}\"", wantErr: `.env:2: invalid interpolation format for "${1A}"`, wantInterp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := spec.ParseDotEnv(strings.NewReader(tt.in), ".env", nil)
			if err == nil {
				t.Fatalf("ParseDotEnv(%q) = %q, want an error", tt.in, got)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err.Error(), tt.wantErr)
			}
			var de *spec.DotEnvError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, want *spec.DotEnvError", err, err)
			}
			var ie *spec.InterpolationError
			if gotInterp := errors.As(err, &ie); gotInterp != tt.wantInterp {
				t.Errorf("errors.As(err, *InterpolationError) = %v, want %v", gotInterp, tt.wantInterp)
			}
		})
	}
}

func TestParseDotEnvReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := spec.ParseDotEnv(iotest.ErrReader(boom), "x.env", nil)
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want it to wrap %v", err, boom)
	}
	if want := "read env file x.env: boom"; err.Error() != want {
		t.Errorf("error = %q, want %q", err.Error(), want)
	}
}

func ExampleParseDotEnv() {
	const file = `# database
export DB_HOST=db.internal
DB_PORT: 5432 # yaml style works too
DB_URL="postgres://${DB_HOST}:${DB_PORT}/app"
GREETING='hello $USER'
USER
`
	shell := map[string]string{"USER": "ada"}
	env, err := spec.ParseDotEnv(strings.NewReader(file), ".env", func(name string) (string, bool) {
		v, ok := shell[name]
		return v, ok
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range []string{"DB_HOST", "DB_PORT", "DB_URL", "GREETING", "USER"} {
		fmt.Printf("%s=%s\n", k, env[k])
	}
	// Output:
	// DB_HOST=db.internal
	// DB_PORT=5432
	// DB_URL=postgres://db.internal:5432/app
	// GREETING=hello $USER
	// USER=ada
}
