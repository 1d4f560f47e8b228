package planner_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps planner pure: its non-test files import only spec,
// internal/errdefs and standard packages that do no I/O. The repository-wide
// archtest checks the transitive graph; this catches a slip at the source.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/stack-dev/stack/spec":             true,
		"github.com/stack-dev/stack/internal/errdefs": true,
	}
	forbidden := []string{"os", "io/fs", "net", "syscall", "unsafe", "testing", "log", "path/filepath"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			switch {
			case allowed[path]:
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: planner may import only spec and internal/errdefs", file, path)
			default:
				for _, bad := range forbidden {
					if path == bad || strings.HasPrefix(path, bad+"/") {
						t.Errorf("%s imports %s: planner does no I/O", file, path)
					}
				}
			}
		}
	}
}
