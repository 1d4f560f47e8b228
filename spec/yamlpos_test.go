package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/spec"
)

// TestYAMLErrorPositions loads each broken file of testdata/yamlerrors:
// the error names the line and column of the mistake (not yaml.v3's
// line, which is often another) and what is wrong in plain words (a tab,
// an indentation, a missing colon). The .golden files hold the messages.
func TestYAMLErrorPositions(t *testing.T) {
	files, err := filepath.Glob("testdata/yamlerrors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			abs, _ := filepath.Abs(f)
			_, err := spec.Load(spec.LoadOptions{Files: []string{abs}, WorkingDir: filepath.Dir(abs), Environ: []string{}})
			if err == nil {
				t.Fatal("loaded a broken file")
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Dir(abs)+string(os.PathSeparator), "")
			testutil.Golden(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(msg+"\n"), *update)
		})
	}
}
