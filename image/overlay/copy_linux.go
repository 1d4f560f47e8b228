package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

// copyDriver makes a container's root filesystem a private copy of its
// layers, applied lowest first with their overlay whiteouts, for
// filesystems that refuse overlayfs. Nothing is shared: every container
// pays for a full copy.
type copyDriver struct{}

func (copyDriver) Name() string { return NameCopy }

func (c copyDriver) Mount(ctx context.Context, dir string, layers []string) (_ string, retErr error) {
	if err := checkDir(dir); err != nil {
		return "", err
	}
	target := filepath.Join(dir, rootfsDir)
	if _, err := os.Lstat(target); err == nil {
		return target, nil // copied before: the copy is the container's state
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, rootfsDir+".tmp-")
	if err != nil {
		return "", err
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	for _, l := range layers {
		if err := applyLayerDir(ctx, tmp, l); err != nil {
			return "", fmt.Errorf("copy layer %s: %w", l, err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return "", err
	}
	return target, nil
}

// MountIDMapped copies the layers and shifts the owners of the copy into
// the map's range: a copy has no lower layer to idmap.
func (c copyDriver) MountIDMapped(ctx context.Context, dir string, layers []string, m image.IDShift) (string, error) {
	if err := checkDir(dir); err != nil {
		return "", err
	}
	target := filepath.Join(dir, rootfsDir)
	if _, err := os.Lstat(target); err == nil {
		return target, recordIDMap(dir, m)
	}
	if err := recordIDMap(dir, m); err != nil {
		return "", err
	}
	target, err := c.Mount(ctx, dir, layers)
	if err != nil {
		return "", err
	}
	err = filepath.WalkDir(target, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if err := os.Lchown(p, int(m.UID+st.Uid%m.Size), int(m.GID+st.Gid%m.Size)); err != nil {
			return err
		}
		if e.Type()&fs.ModeSymlink == 0 && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			return unix.Chmod(p, st.Mode&0o7777) // chown cleared them
		}
		return nil
	})
	if err != nil {
		os.RemoveAll(target)
		return "", fmt.Errorf("shift the copy's owners: %w", err)
	}
	return target, nil
}

func (copyDriver) Unmount(dir string) error { return checkDir(dir) }

func (copyDriver) Remove(dir string) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// Usage of a copied root filesystem counts the whole copy: it is all the
// container's own.
func (copyDriver) Usage(dir string) (Usage, error) {
	return usage(filepath.Join(dir, rootfsDir))
}

func (copyDriver) Diff(ctx context.Context, dir string, w io.Writer) error {
	// TODO(#6): compare the copy with its layers to export a diff.
	return fmt.Errorf("diff with the copy storage driver: %w", errdefs.ErrNotImplemented)
}

// applyLayerDir applies the overlay-form layer directory src onto dst: a
// 0:0 character device deletes the path, a directory marked opaque first
// loses its existing contents, everything else replaces what is there.
func applyLayerDir(ctx context.Context, dst, src string) error {
	links := map[[2]uint64]string{}
	type dirTime struct {
		path string
		st   unix.Stat_t
	}
	var dirs []dirTime
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		mode := st.Mode & unix.S_IFMT
		if rel == "." {
			dirs = append(dirs, dirTime{target, st})
			return nil
		}
		if mode == unix.S_IFCHR && st.Rdev == 0 {
			return os.RemoveAll(target)
		}
		existing, lerr := os.Lstat(target)
		if mode == unix.S_IFDIR {
			if lerr == nil && !existing.IsDir() {
				if err := os.Remove(target); err != nil {
					return err
				}
				lerr = fs.ErrNotExist
			}
			if lerr != nil {
				if err := os.Mkdir(target, 0o755); err != nil {
					return err
				}
			} else if v, _ := getxattr(p, image.OverlayOpaqueXattr); v == "y" {
				if err := clearDir(target); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirTime{target, st})
			return nil
		}
		if lerr == nil {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
		if st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := links[key]; ok {
				return os.Link(first, target)
			}
			links[key] = target
		}
		switch mode {
		case unix.S_IFREG:
			if err := copyFile(target, p); err != nil {
				return err
			}
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return &os.PathError{Op: "mknod", Path: target, Err: err}
			}
		default:
			return nil // sockets
		}
		return copyMeta(target, p, &st)
	})
	if err != nil {
		return err
	}
	for _, d := range slices.Backward(dirs) {
		if err := copyMeta(d.path, "", &d.st); err != nil {
			return err
		}
	}
	return nil
}

func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in) // copy_file_range(2) where the kernel can
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyMeta gives target the owner, xattrs (from src, when given; never
// overlayfs' own), mode and times of st.
func copyMeta(target, src string, st *unix.Stat_t) error {
	if err := unix.Lchown(target, int(st.Uid), int(st.Gid)); err != nil && os.Geteuid() == 0 {
		return &os.PathError{Op: "lchown", Path: target, Err: err}
	}
	if src != "" {
		if err := copyXattrs(target, src); err != nil {
			return err
		}
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if !isLink {
		if err := unix.Fchmodat(unix.AT_FDCWD, target, st.Mode&0o7777, 0); err != nil {
			return &os.PathError{Op: "chmod", Path: target, Err: err}
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: target, Err: err}
	}
	return nil
}

func copyXattrs(target, src string) error {
	sz, err := unix.Llistxattr(src, nil)
	if err != nil || sz == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(src, buf); err != nil {
		return err
	}
	for _, n := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if n == "" || strings.HasPrefix(n, image.OverlayXattrPrefix) {
			continue
		}
		v, err := getxattr(src, n)
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(target, n, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return &os.PathError{Op: "setxattr " + n, Path: target, Err: err}
		}
	}
	return nil
}

func getxattr(p, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		sz, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return "", err
		}
		return string(buf[:sz]), nil
	}
}
