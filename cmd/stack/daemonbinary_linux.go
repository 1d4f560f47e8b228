//go:build !stackdaemon

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// useDaemonBinary replaces this process with stack-daemon when it is
// beside stack, with the same arguments: the daemon is resident, and that
// binary, without the CLI, maps 3 MiB less (commands_daemon_linux.go).
// Without it, the daemon runs here.
func useDaemonBinary(stderr io.Writer) error {
	p := besideStack("stack-daemon", "the daemon runs from the stack binary, 3 MiB larger in memory", stderr)
	if p == "" {
		return nil
	}
	env := append(os.Environ(), daemonBuildEnv+"="+buildID())
	err := syscall.Exec(p, append([]string{p}, os.Args[1:]...), env)
	return fmt.Errorf("run %s: %w", p, err)
}
