// Package errdefs defines the classes of error that cross package
// boundaries in stack. Callers decide with errors.Is, never by matching
// message text; the REST layer maps each class to one HTTP status and the
// CLI maps ErrInvalidArgument to exit code 2.
//
// Owns: the error class sentinels.
// Must not import: anything but the standard library.
package errdefs
