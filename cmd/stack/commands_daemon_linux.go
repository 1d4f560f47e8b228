//go:build stackdaemon

package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// addCommands gives stack-daemon its one command. The daemon stays
// resident, and every page of its binary it touches counts in its RSS:
// without the other commands' code it is 3 MiB smaller, idle or after
// work (the code of the CLI, its formatting and templates, the kube and
// compose commands), and package runtime built with the same tag leaves
// out the shim's side of cgroups and its library, 1 MiB more
// (runtime/cgroupfs_linux.go), and package daemon the image builder with
// buildkit's parser, 1 MiB more (daemon/buildworker_linux.go, !stackdaemon): 5 MiB in
// all, idle or after work. Its containers' shims run from stack-shim, its
// builds from stack.
func addCommands(root *cobra.Command, g *globalOptions) {
	root.AddCommand(newDaemonCommand(g))
}

// daemonCanBeShim: stack-daemon leaves the shim's side of package runtime
// out, so its containers' shims must run from stack-shim.
const daemonCanBeShim = false

// buildBinary: stack-daemon holds no builder; its builds run from the
// stack binary beside it, in a process each.
func buildBinary(stderr io.Writer) string {
	return besideStack("stack", "builds fail", stderr)
}

// useDaemonBinary, in stack-daemon, refuses to serve for a stack of
// another build: the two must agree on what the daemon is.
func useDaemonBinary(io.Writer) error {
	from, ok := os.LookupEnv(daemonBuildEnv)
	os.Unsetenv(daemonBuildEnv)
	if ok && from != buildID() {
		exe, _ := os.Executable()
		return fmt.Errorf("%s is build %s, started by stack build %s: install stack, stack-daemon, stack-shim and stack-init from one build", exe, buildID(), from)
	}
	return nil
}
