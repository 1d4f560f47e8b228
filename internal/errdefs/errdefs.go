// Package errdefs defines the classes of error that cross package
// boundaries in stack. Callers decide with errors.Is, never by matching
// message text; the REST layer maps each class to one HTTP status and the
// CLI maps ErrInvalidArgument to exit code 2.
//
// Owns: the error class sentinels.
// Must not import: anything but the standard library.
package errdefs

import "errors"

// The error classes. Wrap them with context at the source:
//
//	fmt.Errorf("network %q: %w", name, errdefs.ErrNotFound)
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnavailable        = errors.New("unavailable")
	ErrNotImplemented     = errors.New("not implemented")
)

// IsInvalidArgument reports whether err is, or wraps, ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsNotFound reports whether err is, or wraps, ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
