// Package testutil holds helpers shared by stack's tests: the root-test gate
// and golden-file comparison.
//
// Owns: RequiresRoot, golden files.
// Must not import: anything outside the standard library; production code
// must never import this package.
package testutil
