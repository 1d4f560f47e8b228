package spec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stack-dev/stack/spec"
)

// FuzzLoad feeds arbitrary bytes to the whole loader: a panic on any input
// is a bug. The seeds are the golden stacks and a few hostile documents.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/load/*/*.y*ml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"services:",
		"services: {a: {image: x, depends_on: [a]}}",
		"a: &a [*a]",
		"x: &x {<<: *x}",
		"services:\n  a: !reset\n",
		"services:\n  a:\n    image: x\n    ports: ['[::1]:80:80/udp', '1-2:3']\n",
		"services:\n  a:\n    image: ${A:-${B:?c}}\n",
		"services:\n  a:\n    extends: a\n",
		"include: [.]\nservices: {}\n",
		"services:\n  a:\n    image: x\n    volumes: [':::', 'a:b:c:d']\n    healthcheck: {test: []}\n",
		"a: &a [*a, *a, *a, *a]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := spec.Load(spec.LoadOptions{WorkingDir: dir, ProjectName: "fuzz", Environ: []string{"HOME=/h"}})
		if err != nil {
			return
		}
		if _, err := spec.RenderYAML(p); err != nil {
			t.Fatalf("a loaded project must render: %v", err)
		}
	})
}
