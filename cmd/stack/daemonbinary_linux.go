//go:build !stackdaemon

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// daemonCanBeShim: the whole stack binary can be its containers' shim.
const daemonCanBeShim = true

// buildBinary: the whole stack binary runs its daemon's builds itself.
func buildBinary(io.Writer) string { return "" }

// useDaemonBinary replaces this process with stack-daemon when it is
// beside stack, with the same arguments: the daemon is resident, and that
// binary, without the CLI, the shim's side of cgroups and the builder, maps
// 5 MiB less (commands_daemon_linux.go). It runs containers' shims from
// stack-shim only, so it needs that beside it too. Without them, the
// daemon runs here.
func useDaemonBinary(stderr io.Writer) error {
	p := besideStack("stack-daemon", "the daemon runs from the stack binary, 5 MiB larger in memory", stderr)
	if p == "" {
		return nil
	}
	if besideStack("stack-shim", "", io.Discard) == "" {
		return nil // the daemon warns of it
	}
	env := append(os.Environ(), daemonBuildEnv+"="+buildID())
	err := syscall.Exec(p, append([]string{p}, os.Args[1:]...), env)
	return fmt.Errorf("run %s: %w", p, err)
}
