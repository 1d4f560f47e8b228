package spec

import (
	"errors"
	"fmt"
	"sort"

	"github.com/stack-dev/stack/internal/errdefs"
)

// Error is one problem in a stack file, located by file, line and column,
// with the dotted path of the offending key (services.web.ports[0]).
type Error struct {
	File   string
	Line   int
	Column int
	Path   string
	Msg    string
	// Class is the error class: errdefs.ErrInvalidArgument for a mistake in
	// the file, errdefs.ErrNotImplemented for a valid Compose key that stack
	// does not support yet.
	Class error
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Unwrap returns the error class, so errors.Is(err, errdefs.ErrInvalidArgument)
// holds for every problem in a stack file.
func (e *Error) Unwrap() []error {
	if e.Class == nil || e.Class == errdefs.ErrInvalidArgument {
		return []error{errdefs.ErrInvalidArgument}
	}
	return []error{errdefs.ErrInvalidArgument, e.Class}
}

// Errors returns the individual problems in err, which Load returns joined;
// a CLI prints one per line.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, single := err.(*Error); !single {
			return j.Unwrap()
		}
	}
	return []error{err}
}

// joinSorted joins errs in file, line, column order, dropping exact
// duplicates (one mistake reached through two paths).
func joinSorted(errs []error) error {
	sort.SliceStable(errs, func(i, j int) bool {
		a, aok := errs[i].(*Error)
		b, bok := errs[j].(*Error)
		if !aok || !bok {
			return aok && !bok
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		if seen[e.Error()] {
			continue
		}
		seen[e.Error()] = true
		out = append(out, e)
	}
	return errors.Join(out...)
}
