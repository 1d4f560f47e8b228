// Package ident validates the names that become paths, keys and link
// names: project, service, container, volume and network names, and the
// ids of containers. A name that passes is safe as a single path component
// (no separator, no "." or ".."), as a cgroup name and as a map key, and
// holds no glob metacharacter. The rules are Docker's and Compose's, so a
// name they accept is accepted here (with a length limit they lack).
//
// Checking happens twice, with the same rules: at the API boundary of the
// daemon (an error wrapping errdefs.ErrInvalidArgument that names the
// field), and in the stack file validator (with its file:line).
//
// Owns: the naming rules, and [Quote], which bounds how much of a bad
// value an error message repeats.
// Must not import: any package of stack but internal/errdefs.
package ident
