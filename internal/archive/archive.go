package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/stack-dev/stack/internal/errdefs"
)

// Tar writes the file or directory tree at src to w as a tar stream whose
// top entry is named name (a directory's files go under name/). A
// symbolic link at src is followed when followLink; links inside a tree
// are kept as links.
func Tar(w io.Writer, src, name string, followLink bool) error {
	stat := os.Lstat
	if followLink {
		stat = os.Stat
	}
	fi, err := stat(src)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if !fi.IsDir() {
		if err := addEntry(tw, src, name, fi); err != nil {
			return err
		}
		return tw.Close()
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if p == src {
			info = fi
		}
		if err != nil {
			return err
		}
		return addEntry(tw, p, path.Join(name, filepath.ToSlash(rel)), info)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func addEntry(tw *tar.Writer, p, name string, fi fs.FileInfo) error {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		l, err := os.Readlink(p)
		if err != nil {
			return err
		}
		link = l
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() && link == "" {
		return nil // devices, sockets and fifos are not copied
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// Options say how Untar unpacks.
type Options struct {
	// Rename replaces the first element of every entry's name, so that
	// a copy of web/ can land as site/. Optional.
	Rename string
	// KeepOwner gives files the owner the stream names (cp -a); without
	// it they belong to the process that unpacks.
	KeepOwner bool
}

// Untar unpacks the tar stream r into the directory dir. An entry whose
// name, or a link on whose way, would lead outside dir is an error
// (errdefs.ErrInvalidArgument); so are links to files outside the stream.
func Untar(r io.Reader, dir string, o Options) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		path string
		t    time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, err := entryName(hdr.Name, o.Rename)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		target, err := securejoin.SecureJoin(dir, name)
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(hdr.Mode).Perm() | fs.FileMode(hdr.Mode)&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if err := os.Chmod(target, mode); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		case tar.TypeReg:
			os.Remove(target)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(target, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			ln, err := entryName(hdr.Linkname, o.Rename)
			if err != nil || ln == "" {
				return fmt.Errorf("hard link %s to %s: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
			}
			src, err := securejoin.SecureJoin(dir, ln)
			if err != nil {
				return err
			}
			os.Remove(target)
			if err := os.Link(src, target); err != nil {
				return err
			}
		default:
			continue // devices and fifos are not copied
		}
		if o.KeepOwner {
			if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
				return err
			}
		}
		if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeDir {
			os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		}
	}
	// Directories last: writing into them changed their times.
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chtimes(dirs[i].path, dirs[i].t, dirs[i].t)
	}
	return nil
}

// entryName cleans a tar entry's name, relative to the directory it is
// unpacked in, with its first element renamed; "" for the directory
// itself.
func entryName(name, rename string) (string, error) {
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("tar entry %q leaves the destination: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	clean := strings.TrimPrefix(path.Clean("/"+name), "/")
	if clean == "" {
		return "", nil
	}
	if rename != "" {
		_, rest, _ := strings.Cut(clean, "/")
		clean = path.Join(rename, rest)
	}
	return clean, nil
}
