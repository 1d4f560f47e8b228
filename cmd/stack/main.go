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

// run executes the CLI and returns the exit code, as compose and docker
// choose them: 0 on success, 2 for a mistake on the command line or in
// the stack file (a bad flag, an unknown service), 126 when a command
// given to exec or run cannot be run and 127 when it is not found, 130
// for a foreground up stopped with Ctrl-C, the command's own code for
// exec and run, and 1 otherwise.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCommand(stdin, stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	var status exitStatus
	if errors.As(err, &status) {
		return int(status)
	}
	printError(stderr, err)
	return exitCode(err)
}

// exitCode is the exit code of a failed command.
func exitCode(err error) int {
	var nf *commandError
	switch {
	case errors.As(err, &nf):
		return nf.code
	case errors.Is(err, errdefs.ErrInvalidArgument) || isUsageError(err):
		return 2
	}
	return 1
}

// exitStatus is the exit code of a command run in a container (exec, run)
// or of an interrupted foreground up: the CLI exits with it and prints
// nothing, as docker does.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// commandError is a command given to exec or run that could not be run:
// 127 when it is not found, 126 when it cannot be executed, as docker.
type commandError struct {
	code int
	msg  string
}

func (e *commandError) Error() string { return e.msg }

// printError prints err as the user should see it. A stack file's
// problems get one line each ("stack.yaml:3:5: services.web.image: ...").
// Anything else gets one first line, "stack: <what failed>", and, when the
// error says more (a build's output, suggestions, several failures), an
// indented block under it.
func printError(w io.Writer, err error) {
	var se *spec.Error
	if errors.As(err, &se) {
		for _, e := range spec.Errors(err) {
			fmt.Fprintln(w, e)
		}
		return
	}
	first, detail := splitError(err)
	fmt.Fprintf(w, "stack: %s\n", first)
	for _, line := range detail {
		if line == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "    %s\n", line)
	}
}

// splitError separates an error's first line from the detail under it:
// the rest of a multi-line message (the other errors of a join, a build's
// output, suggestions). The detail's tabs become spaces and its blank
// lines at either end go.
func splitError(err error) (string, []string) {
	lines := strings.Split(err.Error(), "\n")
	first := strings.TrimSpace(lines[0])
	var detail []string
	for _, l := range lines[1:] {
		detail = append(detail, strings.ReplaceAll(strings.TrimRight(l, " \t"), "\t", "    "))
	}
	for len(detail) > 0 && detail[0] == "" {
		detail = detail[1:]
	}
	for len(detail) > 0 && detail[len(detail)-1] == "" {
		detail = detail[:len(detail)-1]
	}
	return first, detail
}
