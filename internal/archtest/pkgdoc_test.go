package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs requires every package to have exactly one package
// comment, in doc.go (main.go for a command), starting "Package x" and
// saying what it owns and must not import.
func TestPackageDocs(t *testing.T) {
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "examples") {
			return filepath.SkipDir
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, path, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Errorf("parse %s: %v", path, err)
			return nil
		}
		for pkgName, p := range pkgs {
			var withDoc []string
			for file, f := range p.Files {
				if f.Doc != nil {
					withDoc = append(withDoc, filepath.Base(file))
					text := f.Doc.Text()
					if pkgName != "main" {
						if !strings.HasPrefix(text, "Package "+pkgName+" ") {
							t.Errorf("%s: package comment must start %q", file, "Package "+pkgName)
						}
						if !strings.Contains(text, "Owns:") || !strings.Contains(text, "Must not import:") {
							t.Errorf("%s: package comment must have Owns: and Must not import: paragraphs", file)
						}
					}
				}
			}
			want := "doc.go"
			if pkgName == "main" {
				want = "main.go"
			}
			switch {
			case len(withDoc) == 0:
				t.Errorf("%s: no package comment: add one in %s", path, want)
			case len(withDoc) > 1:
				t.Errorf("%s: package comments in several files %v: keep the one in %s", path, withDoc, want)
			case withDoc[0] != want:
				t.Errorf("%s: package comment is in %s: move it to %s", path, withDoc[0], want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
