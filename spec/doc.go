// Package spec loads stack files: a compatible subset of the Compose
// Specification. It reads one or more YAML files, interpolates variables,
// resolves include and extends, merges the files with the Compose merge
// rules, decodes the result into a [Project] with every short syntax in its
// long form, and validates it.
//
// Every problem is reported with the file, line and column it comes from
// (stack.yaml:12:7: services.web.ports[0]: ...), all of them at once, wrapped
// in errdefs.ErrInvalidArgument. Keys of the Compose Specification that stack
// does not implement yet are errors naming the key, unless ignoring them
// cannot change behaviour, in which case they are warnings.
//
// Owns: the stack-file model, interpolation, merging, defaults, validation.
// Must not import: planner, runtime, network, image, daemon, cobra,
// golang.org/x/sys.
package spec
