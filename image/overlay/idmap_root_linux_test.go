package overlay_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/overlay"
	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootOverlayIDMapped mounts an image with idmapped layers: the
// host sees its files in the container's range, the layers themselves are
// untouched, what is written lands in the upper directory with the
// writer's host uid, and Diff gives the image's owners back.
func TestRootOverlayIDMapped(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, name := range []string{overlay.NameOverlay, overlay.NameCopy} {
		t.Run(name, func(t *testing.T) {
			_, img := busyboxImage(t)
			d := newDriver(t, name)
			m := image.IDShift{UID: 1_800_000_000, GID: 1_800_100_000, Size: 65536}
			dir := filepath.Join(t.TempDir(), "c")
			rootfs, err := d.MountIDMapped(context.Background(), dir, img.Layers, m)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := d.Remove(dir); err != nil {
					t.Error(err)
				}
			})
			checkView(t, rootfs)
			owner := func(p string) (uint32, uint32) {
				st, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				s := st.Sys().(*syscall.Stat_t)
				return s.Uid, s.Gid
			}
			if u, g := owner(filepath.Join(rootfs, "etc/passwd")); u != m.UID || g != m.GID {
				t.Errorf("/etc/passwd (root's in the image) is %d:%d on the host, want %d:%d", u, g, m.UID, m.GID)
			}
			if u, _ := owner(filepath.Join(img.Layers[0], "etc/passwd")); u != 0 {
				t.Errorf("the layer itself changed owner: %d", u)
			}
			// Written by the container's uid 33: the host's m.UID+33.
			p := filepath.Join(rootfs, "var/www/written")
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(p, int(m.UID+33), int(m.GID+33)); err != nil {
				t.Fatal(err)
			}
			if name == overlay.NameCopy {
				return // no Diff
			}
			var b bytes.Buffer
			if err := d.Diff(context.Background(), dir, &b); err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(&b)
			found := false
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Name == "var/www/written" {
					found = true
					if h.Uid != 33 || h.Gid != 33 {
						t.Errorf("diff: written is %d:%d, want 33:33", h.Uid, h.Gid)
					}
				}
			}
			if !found {
				t.Error("diff lacks var/www/written")
			}
			// A container directory keeps its map.
			if err := d.Unmount(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := d.MountIDMapped(context.Background(), dir, img.Layers, image.IDShift{UID: 5, GID: 5, Size: 65536}); err == nil {
				t.Error("remount with another map succeeded")
			}
		})
	}
}
