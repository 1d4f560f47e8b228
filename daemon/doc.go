// Package daemon is stack's composition root: it owns the state directory
// and turns a stack (spec and planner values) into images, networks and
// containers by driving the image, network and runtime packages. It is the
// only package that translates spec values into their config types.
//
// Owns: the state root layout, the translation of a service and its image
// into an OCI runtime spec, running planner actions.
// Must not import: cmd, cobra.
package daemon
