package spec_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// TestJSONRoundTrip: what the CLI sends the daemon decodes to the same
// model.
func TestJSONRoundTrip(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/load/*")
	for _, dir := range dirs {
		abs, _ := filepath.Abs(dir)
		p, err := spec.Load(spec.LoadOptions{WorkingDir: abs, Environ: testEnviron})
		if err != nil {
			t.Fatal(err)
		}
		data, err := spec.RenderJSON(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := spec.DecodeJSON(data)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		again, _ := spec.RenderJSON(q)
		if !bytes.Equal(data, again) {
			t.Errorf("%s: JSON changes in a round trip:\n%s\n---\n%s", dir, data, again)
		}
		for name, s := range q.Services {
			if s.Name != name {
				t.Errorf("%s: service %q decoded with name %q", dir, name, s.Name)
			}
		}
	}
}

// TestDecodeJSONRefuses: the daemon's decoder is the door for outside
// input: unknown fields and names that would become paths elsewhere are
// refused, and the error does not echo a huge value back.
func TestDecodeJSONRefuses(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	cases := []struct{ name, json, want string }{
		{"unknown field", `{"name":"p","services":{"a":{"image":"x","imagee":"y"}}}`, `unknown field "imagee"`},
		{"bad project", `{"name":"../x","services":{}}`, `project name "../x"`},
		{"glob project", `{"name":"*","services":{}}`, `project name "*"`},
		{"service path", `{"name":"p","services":{"a/b":{"image":"x"}}}`, `service name "a/b"`},
		{"container_name path", `{"name":"p","services":{"a":{"image":"x","container_name":"x/../../c"}}}`, `container_name "x/../../c"`},
		{"volume path", `{"name":"p","services":{},"volumes":{"d":{"name":"../../victim"}}}`, `volume name "../../victim"`},
		{"network glob", `{"name":"p","services":{},"networks":{"n":{"name":"a*"}}}`, `network name "a*"`},
		{"huge name", `{"name":"p","services":{},"volumes":{"d":{"name":"` + long + `"}}}`, `(1048576 bytes)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.DecodeJSON([]byte(tc.json))
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeJSON = %v, want an invalid argument with %q", err, tc.want)
			}
			if err != nil && len(err.Error()) > 500 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		})
	}
}
