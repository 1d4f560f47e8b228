package archive_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stack-dev/stack/internal/archive"
	"github.com/stack-dev/stack/internal/errdefs"
)

func TestTarUntarRename(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "web", "css"), 0o755)
	os.WriteFile(filepath.Join(src, "web", "index.html"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(src, "web", "css", "a.css"), []byte("x{}"), 0o600)
	os.Symlink("index.html", filepath.Join(src, "web", "home.html"))
	for _, c := range []struct {
		name, rename string
		want         []string
	}{
		{"as is", "", []string{"web/index.html", "web/css/a.css", "web/home.html"}},
		{"renamed", "site", []string{"site/index.html", "site/css/a.css", "site/home.html"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := archive.Tar(&b, filepath.Join(src, "web"), "web", false); err != nil {
				t.Fatal(err)
			}
			dst := t.TempDir()
			if err := archive.Untar(&b, dst, archive.Options{Rename: c.rename}); err != nil {
				t.Fatal(err)
			}
			for _, f := range c.want {
				if _, err := os.Lstat(filepath.Join(dst, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
			if fi, _ := os.Stat(filepath.Join(dst, c.want[1])); fi == nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode of %s not kept: %v", c.want[1], fi)
			}
		})
	}
}

func TestUntarRefusesEscapes(t *testing.T) {
	for _, c := range []struct {
		name string
		hdrs []tar.Header
	}{
		{"dot dot", []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg}}},
		{"nested dot dot", []tar.Header{{Name: "a/../../evil", Typeflag: tar.TypeReg}}},
		{"hard link out", []tar.Header{{Name: "x", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			for _, h := range c.hdrs {
				tw.WriteHeader(&h)
			}
			tw.Close()
			dir := t.TempDir()
			if err := archive.Untar(&b, filepath.Join(dir, "dst"), archive.Options{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
				t.Fatal("an entry landed outside the destination")
			}
		})
	}
}

// A symlink in the stream cannot carry a later entry outside the
// destination: the entry lands inside it.
func TestUntarSymlinkStaysInside(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/"})
	tw.WriteHeader(&tar.Header{Name: "link/evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst")
	if err := archive.Untar(&b, dst, archive.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "evil")); err != nil {
		t.Errorf("want the entry inside the destination: %v", err)
	}
}

func FuzzUntar(f *testing.F) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("hi"))
	tw.WriteHeader(&tar.Header{Name: "a/l", Typeflag: tar.TypeSymlink, Linkname: "../.."})
	tw.Close()
	f.Add(b.Bytes(), "")
	f.Add(b.Bytes(), "x")
	f.Fuzz(func(t *testing.T, data []byte, rename string) {
		dir := t.TempDir()
		dst := filepath.Join(dir, "dst")
		os.Mkdir(dst, 0o755)
		archive.Untar(bytes.NewReader(data), dst, archive.Options{Rename: filepath.Base(rename)})
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("something landed beside the destination: %v", entries)
		}
	})
}
