package linux

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fsTopdirFlag is FS_TOPDIR_FL of <linux/fs.h> ("chattr +T"), which
// golang.org/x/sys does not define.
const fsTopdirFlag = 0x00020000

// SpreadSubdirs marks the directory at path as the top of a directory
// hierarchy (chattr +T). ext2/3/4's Orlov allocator then spreads the
// directories made in it over the block groups (a group with few
// directories and room to spare), where it would otherwise keep them near
// the parent's group. A directory that holds one subdirectory per
// container needs it: otherwise every container's files land in one
// group, and ext4 without a journal walks past each inode freed there in
// the last 60 s (6 min while the inode table block is unwritten) on every
// create, so creating a container grows slower as containers come and
// go. On a file system without the flag (tmpfs, xfs, btrfs) it does
// nothing and reports no error; overlayfs passes it to its upper layer.
func SpreadSubdirs(path string) error {
	f, flags, ok, err := openWithFlags(path)
	if !ok || err != nil {
		return err
	}
	defer f.Close()
	if flags&fsTopdirFlag != 0 {
		return nil
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFlag)); err != nil {
		if flagsUnsupported(err) {
			return nil
		}
		return &os.PathError{Op: "set inode flags", Path: path, Err: err}
	}
	return nil
}

// SpreadsSubdirs reports whether the directory at path has the flag
// SpreadSubdirs sets.
func SpreadsSubdirs(path string) (bool, error) {
	f, flags, ok, err := openWithFlags(path)
	if !ok || err != nil {
		return false, err
	}
	f.Close()
	return flags&fsTopdirFlag != 0, nil
}

// openWithFlags opens the directory at path and reads its inode flags; ok
// is false, with no file and no error, where the file system has none.
func openWithFlags(path string) (f *os.File, flags uint32, ok bool, err error) {
	f, err = Open(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, 0, false, err
	}
	flags, err = unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		f.Close()
		if flagsUnsupported(err) {
			return nil, 0, false, nil
		}
		return nil, 0, false, &os.PathError{Op: "get inode flags", Path: path, Err: err}
	}
	return f, flags, true, nil
}

// flagsUnsupported reports whether err says the file system has no inode
// flags (ENOTTY) or not this one (EOPNOTSUPP).
func flagsUnsupported(err error) bool {
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP)
}
