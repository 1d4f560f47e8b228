package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Linkname))
		}
		body := h.Linkname
		if h.Typeflag == tar.TypeReg {
			h.Linkname = ""
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// file is a regular file entry; its body travels in Linkname for brevity.
func file(name, body string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Linkname: body}
}

func TestUnpackRefusesTraversal(t *testing.T) {
	tests := []struct {
		name string
		tar  []*tar.Header
	}{
		{"dotdot", []*tar.Header{file("../evil", "x")}},
		{"nested dotdot", []*tar.Header{file("a/../../evil", "x")}},
		{"absolute dotdot", []*tar.Header{file("/../evil", "x")}},
		{"hardlink out", []*tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "root")
			os.Mkdir(root, 0o755)
			_, err := unpackLayer(context.Background(), root, bytes.NewReader(tarOf(t, tt.tar...)))
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("got %v, want invalid argument", err)
			}
			if _, err := os.Lstat(filepath.Join(parent, "evil")); err == nil {
				t.Fatal("wrote outside the layer")
			}
		})
	}
}

// TestUnpackSymlinkScoped checks that a symlink planted by an earlier
// entry is resolved inside the layer, never on the host.
func TestUnpackSymlinkScoped(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	layer := tarOf(t,
		&tar.Header{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: outside},
		&tar.Header{Name: "rel", Typeflag: tar.TypeSymlink, Linkname: "../../../../" + outside},
		file("abs/pwned", "x"),
		file("rel/pwned2", "x"),
		// The final component is never followed either: the symlink is
		// replaced, not written through.
		&tar.Header{Name: "last", Typeflag: tar.TypeSymlink, Linkname: filepath.Join(outside, "target")},
		file("last", "replaced"),
	)
	if _, err := unpackLayer(context.Background(), root, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("wrote outside the layer: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(root, outside, "pwned")); err != nil {
		t.Fatalf("scoped write missing: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "last")); string(b) != "replaced" {
		t.Fatalf("last = %q", b)
	}
}

func TestUnpackKeepsModesAndTimes(t *testing.T) {
	root := t.TempDir()
	h := file("d/x", "body")
	h.Mode = 0o4755
	dir := &tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o555, ModTime: h.ModTime}
	if _, err := unpackLayer(context.Background(), root, bytes.NewReader(tarOf(t, dir, h))); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "d", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v", fi.Mode())
	}
	di, _ := os.Stat(filepath.Join(root, "d"))
	if di.Mode().Perm() != 0o555 {
		t.Fatalf("dir mode %v", di.Mode())
	}
	os.Chmod(filepath.Join(root, "d"), 0o755) // let t.TempDir clean up as non-root
}
