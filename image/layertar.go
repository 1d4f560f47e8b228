//go:build unix

package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LayerTarOptions control [WriteLayerTar].
type LayerTarOptions struct {
	// OverlayWhiteouts converts overlayfs whiteouts found in the directory
	// (0:0 character devices, trusted.overlay.opaque=y directories) to the
	// ".wh." entries of the layer format. Set it when the directory is an
	// overlay upper directory. Optional.
	OverlayWhiteouts bool
	// Unshift maps the owners found in dir back to the image's: a uid or
	// gid in [Unshift.UID, +Size) (or the GID range) becomes its offset
	// in the range, as a user namespace container's upper directory holds
	// them. Optional.
	Unshift IDShift
}

// IDShift is the host range of a user namespace's IDs 0..Size-1: uids
// from UID, gids from GID. The zero value shifts nothing.
type IDShift struct {
	UID, GID, Size uint32
}

// Inside returns the namespace's IDs of host uid and gid: their offsets
// in the range, or 65534 (nobody) when outside it, as the namespace sees
// an unmapped owner.
func (s IDShift) Inside(uid, gid uint32) (uint32, uint32) {
	if s.Size == 0 {
		return uid, gid
	}
	in := func(id, base uint32) uint32 {
		if id >= base && id-base < s.Size {
			return id - base
		}
		return 65534
	}
	return in(uid, s.UID), in(gid, s.GID)
}

// WriteLayerTar writes the content of dir as an uncompressed layer tar to
// w: entries in lexical order, names relative to dir, ownership, modes,
// modification times (whole seconds), xattrs, hard links, symlinks and
// device nodes kept; sockets are skipped. The same tree gives the same
// bytes, so the same diffID.
func WriteLayerTar(ctx context.Context, w io.Writer, dir string, opts LayerTarOptions) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{} // (dev, ino) -> first name, for hard links
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := st.Mode & unix.S_IFMT
		if mode == unix.S_IFSOCK {
			return nil
		}
		st.Uid, st.Gid = opts.Unshift.Inside(st.Uid, st.Gid)
		if opts.OverlayWhiteouts && mode == unix.S_IFCHR && st.Rdev == 0 {
			dirName, base := path.Split(name)
			return tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg, Name: dirName + WhiteoutPrefix + base, Mode: 0o600,
				Uid: int(st.Uid), Gid: int(st.Gid), ModTime: fi.ModTime().Truncate(time.Second),
			})
		}
		link := ""
		if mode == unix.S_IFLNK {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		hdr.Uname, hdr.Gname = "", ""
		hdr.ModTime = fi.ModTime().Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if mode == unix.S_IFCHR || mode == unix.S_IFBLK {
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
		}
		xattrs, opaque, err := readXattrs(p, opts.OverlayWhiteouts)
		if err != nil {
			return err
		}
		for k, v := range xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if mode == unix.S_IFREG && st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				return tw.WriteHeader(hdr)
			}
			links[key] = name
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if opaque {
			if err := tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg, Name: name + "/" + WhiteoutOpaqueDir, Mode: 0o600,
				Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime,
			}); err != nil {
				return err
			}
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write layer tar of %s: %w", dir, err)
	}
	return tw.Close()
}

// readXattrs returns the xattrs of p, without overlayfs' own when
// overlay is set; opaque reports trusted.overlay.opaque=y.
func readXattrs(p string, overlay bool) (map[string]string, bool, error) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, false, err
	}
	names := make([]byte, sz)
	sz, err = unix.Llistxattr(p, names)
	if err != nil {
		return nil, false, &os.PathError{Op: "listxattr", Path: p, Err: err}
	}
	out := map[string]string{}
	opaque := false
	for _, n := range strings.Split(strings.TrimRight(string(names[:sz]), "\x00"), "\x00") {
		if n == "" {
			continue
		}
		v, err := getXattr(p, n)
		if err != nil {
			return nil, false, err
		}
		if overlay && strings.HasPrefix(n, OverlayXattrPrefix) {
			if n == OverlayOpaqueXattr && v == "y" {
				opaque = true
			}
			continue
		}
		out[n] = v
	}
	return out, opaque, nil
}

func getXattr(p, name string) (string, error) {
	sz, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return "", &os.PathError{Op: "getxattr " + name, Path: p, Err: err}
	}
	v := make([]byte, sz)
	sz, err = unix.Lgetxattr(p, name, v)
	if err != nil {
		return "", &os.PathError{Op: "getxattr " + name, Path: p, Err: err}
	}
	return string(v[:sz]), nil
}
