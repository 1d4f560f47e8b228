// Package e2e holds black-box tests of the stack binary: each builds a
// stack on a daemon of its own (state root, socket, nftables table and
// cgroup parent of its own), runs the CLI as a user would, and checks
// that nothing is left behind. They run as root, with STACK_TEST_ROOT=1.
//
// Owns: the end-to-end tests.
// Must not import: anything of stack's but internal/testutil.
package e2e
