package spec_test

import (
	"bytes"
	"path/filepath"
	"testing"

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
