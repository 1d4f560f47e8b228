//go:build unix

package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
)

// unpacker applies one layer tar to an empty directory, turning the tar's
// whiteouts into overlayfs' own: ".wh.NAME" becomes a 0:0 character device
// NAME and ".wh..wh..opq" sets trusted.overlay.opaque=y on its directory
// (overlayfs(5) "whiteouts and opaque directories"). The directory is then
// usable as an overlay lower layer as it is.
//
// Entries never escape root: a name that climbs out ("../x") is refused,
// and parent directories are resolved with securejoin, so a symlink
// created by an earlier entry (say "etc" -> "/etc") is followed as if root
// were the filesystem root, never onto the host. The final component of
// every entry is created with O_EXCL/O_NOFOLLOW semantics, after removing
// whatever the layer put there before.
type unpacker struct {
	root   string
	isRoot bool
	// parents caches directories resolved within root: relative name ->
	// absolute path. It is dropped whenever an entry replaces a directory.
	parents map[string]string
	dirs    []dirMeta // applied last, deepest first
	buf     []byte
}

type dirMeta struct {
	path string
	hdr  *tar.Header
}

// unpackLayer extracts the uncompressed layer tar r into root, which must
// exist and be empty, and returns the sum of its files' sizes.
func unpackLayer(ctx context.Context, root string, r io.Reader) (int64, error) {
	u := &unpacker{
		root:    root,
		isRoot:  os.Geteuid() == 0,
		parents: map[string]string{},
		buf:     make([]byte, 1<<20),
	}
	tr := tar.NewReader(r)
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read layer tar: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if err := u.entry(hdr, tr); err != nil {
			return 0, fmt.Errorf("unpack %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			size += hdr.Size
		}
	}
	// Directory times and modes last: creating entries changes the
	// mtime of their parent, and a read-only mode would stop a non-root
	// unpacker from filling the directory.
	for _, d := range slices.Backward(u.dirs) {
		if err := u.meta(d.path, d.hdr); err != nil {
			return 0, fmt.Errorf("unpack %q: %w", d.hdr.Name, err)
		}
	}
	return size, nil
}

// cleanName makes a tar entry name relative to the layer root. A leading
// "/" is dropped, as tar(1) does; a name that climbs above the root is
// refused.
func cleanName(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("path %q leaves the layer: %w", name, errdefs.ErrInvalidArgument)
	}
	if p == "." {
		return "", nil
	}
	return p, nil
}

// parent returns the absolute path of the directory rel (relative to
// root) with every symlink resolved inside root, creating it if missing.
func (u *unpacker) parent(rel string) (string, error) {
	if rel == "" || rel == "." {
		return u.root, nil
	}
	if p, ok := u.parents[rel]; ok {
		return p, nil
	}
	p, err := securejoin.SecureJoin(u.root, rel)
	if err != nil {
		return "", err
	}
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// The missing tail has no symlinks in it: SecureJoin resolved
		// everything that exists.
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	case !fi.IsDir():
		return "", fmt.Errorf("parent %q is not a directory: %w", rel, errdefs.ErrInvalidArgument)
	}
	u.parents[rel] = p
	return p, nil
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		if hdr.Typeflag == tar.TypeDir {
			u.dirs = append(u.dirs, dirMeta{u.root, hdr})
		}
		return nil
	}
	dir, base := path.Split(name)
	parent, err := u.parent(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	if strings.HasPrefix(base, WhiteoutPrefix) {
		return u.whiteout(parent, base, hdr)
	}
	target := filepath.Join(parent, base)
	if fi, err := os.Lstat(target); err == nil {
		if fi.IsDir() && hdr.Typeflag == tar.TypeDir {
			u.dirs = append(u.dirs, dirMeta{target, hdr})
			return nil
		}
		if fi.IsDir() {
			u.parents = map[string]string{}
		}
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o755); err != nil {
			return err
		}
		u.dirs = append(u.dirs, dirMeta{target, hdr})
		return nil
	case tar.TypeReg, tar.TypeRegA:
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(f, io.LimitReader(r, hdr.Size), u.buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		// The link text is stored as it is: it is resolved later inside
		// the container's root, and never followed here.
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
	case tar.TypeLink:
		ln, err := cleanName(hdr.Linkname)
		if err != nil {
			return err
		}
		ldir, lbase := path.Split(ln)
		lparent, err := u.parent(strings.TrimSuffix(ldir, "/"))
		if err != nil {
			return err
		}
		// linkat(2) without AT_SYMLINK_FOLLOW links the symlink itself
		// when the source is one, as tar does.
		if err := unix.Linkat(unix.AT_FDCWD, filepath.Join(lparent, lbase), unix.AT_FDCWD, target, 0); err != nil {
			return &os.LinkError{Op: "link", Old: hdr.Linkname, New: name, Err: err}
		}
		return nil // a hard link shares its target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknod(target, mode, dev); err != nil {
			if errors.Is(err, unix.EPERM) && !u.isRoot && hdr.Typeflag != tar.TypeFifo {
				return nil // device nodes need CAP_MKNOD; skip them as rootless docker does
			}
			return &os.PathError{Op: "mknod", Path: target, Err: err}
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("unsupported tar entry type %q: %w", hdr.Typeflag, errdefs.ErrInvalidArgument)
	}
	return u.meta(target, hdr)
}

func (u *unpacker) whiteout(parent, base string, hdr *tar.Header) error {
	if base == WhiteoutOpaqueDir {
		if err := unix.Lsetxattr(parent, OverlayOpaqueXattr, []byte("y"), 0); err != nil {
			return u.privileged(&os.PathError{Op: "setxattr " + OverlayOpaqueXattr, Path: parent, Err: err})
		}
		return nil
	}
	if strings.HasPrefix(base, WhiteoutMetaPrefix) {
		return nil // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs)
	}
	name := strings.TrimPrefix(base, WhiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("bad whiteout %q: %w", hdr.Name, errdefs.ErrInvalidArgument)
	}
	target := filepath.Join(parent, name)
	if err := os.RemoveAll(target); err != nil {
		return err
	}
	u.parents = map[string]string{}
	if err := unix.Mknod(target, unix.S_IFCHR, 0); err != nil {
		return u.privileged(&os.PathError{Op: "mknod whiteout", Path: target, Err: err})
	}
	if err := unix.Lchown(target, hdr.Uid, hdr.Gid); err != nil && u.isRoot {
		return &os.PathError{Op: "lchown", Path: target, Err: err}
	}
	return nil
}

// privileged classifies a permission error of an operation only root can
// do (whiteouts, trusted xattrs) as a failed precondition.
func (u *unpacker) privileged(err error) error {
	if errors.Is(err, unix.EPERM) && !u.isRoot {
		return fmt.Errorf("%w (overlay whiteouts need root): %w", err, errdefs.ErrFailedPrecondition)
	}
	return err
}

// meta applies ownership, xattrs, mode and times. chmod comes after
// chown, which clears the set-id bits.
func (u *unpacker) meta(p string, hdr *tar.Header) error {
	if err := unix.Lchown(p, hdr.Uid, hdr.Gid); err != nil && u.isRoot {
		return &os.PathError{Op: "lchown", Path: p, Err: err}
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(p, attr, []byte(v), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || (errors.Is(err, unix.EPERM) && !u.isRoot) {
				continue // the filesystem or our privileges cannot keep it
			}
			return &os.PathError{Op: "setxattr " + attr, Path: p, Err: err}
		}
	}
	isLink := hdr.Typeflag == tar.TypeSymlink
	if !isLink {
		// p is not a symlink: we created it, or it is a directory.
		if err := unix.Fchmodat(unix.AT_FDCWD, p, uint32(hdr.Mode&0o7777), 0); err != nil {
			return &os.PathError{Op: "chmod", Path: p, Err: err}
		}
	}
	if hdr.ModTime.IsZero() {
		return nil
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: p, Err: err}
	}
	return nil
}
