package spec_test

import (
	"reflect"
	"testing"

	"github.com/stack-dev/stack/spec"
)

func TestVariables(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []spec.Variable
	}{
		{"plain", []spec.Variable{}},
		{"$A and ${B}", []spec.Variable{{Name: "A"}, {Name: "B"}}},
		{"${PORT:-8080}:80", []spec.Variable{{Name: "PORT", Default: "8080"}}},
		{"${DB:?need a db} ${TLS:+on}", []spec.Variable{{Name: "DB", Required: true}, {Name: "TLS", Alternate: "on"}}},
		{"${A:-${B-x}}", []spec.Variable{{Name: "A", Default: "${B-x}"}, {Name: "B", Default: "x"}}},
		{"$$NOT ${", []spec.Variable{}},
	} {
		got := spec.Variables(c.in)
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Variables(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func FuzzVariables(f *testing.F) {
	for _, s := range []string{"${A:-${B:?x}}", "$A$B", "${A", "${:-}", "$${A}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range spec.Variables(s) {
			if v.Name == "" {
				t.Fatalf("a variable without a name in %q", s)
			}
		}
	})
}
