//go:build unix

package image

import "golang.org/x/sys/unix"

// errNotEmpty is what rename(2) returns when the target is a non-empty
// directory (ENOTEMPTY; some systems say EEXIST, which fs.ErrExist covers).
const errNotEmpty = unix.ENOTEMPTY
