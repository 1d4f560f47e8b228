package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/imagetest"
	"github.com/stack-dev/stack/internal/testutil"
)

func TestRootUnpackPreservesMetadata(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	layer := imagetest.LayerTar(t,
		imagetest.Entry{Name: "owned/", Type: tar.TypeDir, UID: 1000, GID: 1001, Mode: 0o750},
		imagetest.Entry{Name: "owned/file", Body: "x", UID: 1000, GID: 1001, Mode: 0o4711,
			Xattrs: map[string]string{"user.test": "value", "security.capability": "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}},
		imagetest.Entry{Name: "owned/link", Type: tar.TypeSymlink, Link: "file", UID: 1000, GID: 1001},
		imagetest.Entry{Name: "owned/hard", Type: tar.TypeLink, Link: "owned/file"},
		imagetest.Entry{Name: "dev/", Type: tar.TypeDir},
		imagetest.Entry{Name: "dev/null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
		imagetest.Entry{Name: "dev/loop9", Type: tar.TypeBlock, Major: 7, Minor: 9, Mode: 0o660},
		imagetest.Entry{Name: "dev/fifo", Type: tar.TypeFifo, Mode: 0o600},
	)
	wh := imagetest.LayerTar(t,
		imagetest.Entry{Name: "owned/", Type: tar.TypeDir, UID: 1000, GID: 1001, Mode: 0o750},
		imagetest.Entry{Name: "owned/.wh..wh..opq"},
		imagetest.Entry{Name: "dev/", Type: tar.TypeDir},
		imagetest.Entry{Name: "dev/.wh.fifo"},
	)
	img := imagetest.Image(t, true, v1.Config{},
		imagetest.Step{Layer: imagetest.Layer(t, layer)}, imagetest.Step{Layer: imagetest.Layer(t, wh)})
	s, err := image.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, bytes.NewReader(imagetest.OCIArchive(t, []string{"meta:1"}, []v1.Image{img})), image.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rootfs(ctx, "meta:1")
	if err != nil {
		t.Fatal(err)
	}
	l0, l1 := r.Layers[0], r.Layers[1]
	stat := func(p string) unix.Stat_t {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, p := range []string{"owned", "owned/file", "owned/link"} {
		if st := stat(filepath.Join(l0, p)); st.Uid != 1000 || st.Gid != 1001 {
			t.Errorf("%s owned by %d:%d", p, st.Uid, st.Gid)
		}
	}
	if st := stat(filepath.Join(l0, "owned/file")); st.Mode&0o7777 != 0o4711 || st.Nlink != 2 {
		t.Errorf("owned/file mode %o nlink %d", st.Mode&0o7777, st.Nlink)
	}
	if st := stat(filepath.Join(l0, "owned")); st.Mode&0o7777 != 0o750 {
		t.Errorf("dir mode %o", st.Mode&0o7777)
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(l0, "owned/file"), "user.test", buf); err != nil || string(buf[:n]) != "value" {
		t.Errorf("user.test xattr %q %v", buf[:n], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(l0, "owned/file"), "security.capability", buf); err != nil {
		t.Errorf("file capability lost: %v", err)
	}
	if st := stat(filepath.Join(l0, "dev/null")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null mode %o rdev %d", st.Mode, st.Rdev)
	}
	if st := stat(filepath.Join(l0, "dev/loop9")); st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != unix.Mkdev(7, 9) {
		t.Errorf("dev/loop9 mode %o rdev %d", st.Mode, st.Rdev)
	}
	if st := stat(filepath.Join(l0, "dev/fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("dev/fifo mode %o", st.Mode)
	}
	if fi, _ := os.Lstat(filepath.Join(l0, "owned/file")); !fi.ModTime().Equal(imagetest.Epoch()) {
		t.Errorf("mtime %v", fi.ModTime())
	}
	// Whiteouts of the second layer, in overlay form.
	if st := stat(filepath.Join(l1, "dev/fifo")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout is mode %o rdev %d, want a 0:0 char device", st.Mode, st.Rdev)
	}
	if n, err := unix.Lgetxattr(filepath.Join(l1, "owned"), image.OverlayOpaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr %q %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(l1, "owned", image.WhiteoutOpaqueDir)); err == nil {
		t.Error("the .wh..wh..opq marker was written as a file")
	}
	// Written back as a layer, the whiteouts become .wh. entries again.
	var out bytes.Buffer
	if err := image.WriteLayerTar(ctx, &out, l1, image.LayerTarOptions{OverlayWhiteouts: true}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		seen[h.Name] = true
	}
	if !seen["dev/.wh.fifo"] || !seen["owned/.wh..wh..opq"] {
		t.Errorf("round trip lost whiteouts: %v", seen)
	}
}
