package ident

import (
	"fmt"
	"strconv"

	"github.com/stack-dev/stack/internal/errdefs"
)

// MaxLen is the longest name accepted.
const MaxLen = 128

// Name checks a container, volume or network name, or a container id:
// 1 to 128 of [a-zA-Z0-9_.-], starting with a letter or digit (Docker's
// rule for container and volume names). kind names the field in the
// error ("container_name", "volume").
func Name(kind, s string) error {
	ok := len(s) > 0 && len(s) <= MaxLen
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = alnum(c) || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%s %s: must be 1-%d of [a-zA-Z0-9_.-], starting with a letter or digit: %w", kind, Quote(s), MaxLen, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Project checks a project name: 1 to 128 lowercase letters, digits, '-'
// and '_', starting with a letter or digit (Compose's rule).
func Project(s string) error {
	ok := len(s) > 0 && len(s) <= MaxLen
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("project name %s: must be 1-%d of lowercase letters, digits, '-' and '_', starting with a letter or digit: %w", Quote(s), MaxLen, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Service checks a service name: 1 to 128 of [a-zA-Z0-9._-], and not "."
// or ".." (Compose's rule). A service name only reaches the file system
// inside a container name ("project-service-1").
func Service(s string) error {
	ok := len(s) > 0 && len(s) <= MaxLen && s != "." && s != ".."
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = alnum(c) || c == '_' || c == '.' || c == '-'
	}
	if !ok {
		return fmt.Errorf("service name %s: must be 1-%d of [a-zA-Z0-9._-]: %w", Quote(s), MaxLen, errdefs.ErrInvalidArgument)
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// quoteMax is how many bytes of a value Quote keeps.
const quoteMax = 64

// Quote returns s quoted for an error message, cut to its first 64 bytes
// (with the length it had) so that a hostile value is not echoed back
// whole.
func Quote(s string) string {
	if len(s) <= quoteMax {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:quoteMax]), len(s))
}
