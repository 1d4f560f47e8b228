// Package archtest holds tests that keep the architecture honest: the
// direction of imports between stack's packages, and one package comment
// per package. It has no code of its own.
//
// Owns: the import rules of STYLE.md, as tests.
// Must not import: anything; it is only tests.
package archtest
