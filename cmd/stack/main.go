// Command stack runs multi-container development environments from a
// Compose-compatible stack file, on its own container engine.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

func main() {
	reexec()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the exit code: 0 on success, 2 for a
// mistake in the input (a bad flag or stack file), 1 otherwise.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCommand(stdin, stdout, stderr)
	cmd.SetArgs(rewriteShorthands(args))
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	var status exitStatus
	if errors.As(err, &status) {
		return int(status)
	}
	printError(stderr, err)
	if errors.Is(err, errdefs.ErrInvalidArgument) || isUsageError(err) {
		return 2
	}
	return 1
}

// exitStatus is the exit code of a command run in a container (exec, run):
// the CLI exits with it and prints nothing, as docker does.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// printError prints err as the user should see it: one line per problem of
// a stack file ("stack.yaml:3:5: services.web.image: ..."), otherwise one
// line prefixed with "stack: ".
func printError(w io.Writer, err error) {
	var se *spec.Error
	if errors.As(err, &se) {
		for _, e := range spec.Errors(err) {
			fmt.Fprintln(w, e)
		}
		return
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(w, "stack: %s\n", msg)
}

// localShorthands are the -f flags of subcommands that docker users type
// (logs -f, image rm -f, system prune -f), which the global -f (--file)
// would otherwise take: after the subcommand, they mean the subcommand's
// flag.
var localShorthands = map[string]string{"logs": "--follow", "rm": "--force", "prune": "--force"}

// rewriteShorthands turns "-f" after a subcommand of localShorthands into
// that subcommand's long flag, leaving "-f FILE" before it alone, and the
// command line of exec and run (`exec web rm -f x`) alone too.
func rewriteShorthands(args []string) []string {
	out := append([]string(nil), args...)
	long := ""
	for i, a := range out {
		if a == "--" || (long == "" && (a == "exec" || a == "run")) {
			break
		}
		if l, ok := localShorthands[a]; ok && long == "" {
			long = l
			continue
		}
		if long != "" && a == "-f" {
			out[i] = long
		}
	}
	return out
}
