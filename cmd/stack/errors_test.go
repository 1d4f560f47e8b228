package main

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/internal/testutil"
)

// TestErrorFormatting prints errors as the user sees them: one first line
// after "stack: ", then what the error says more (suggestions, a build's
// output, the other failures of a join) indented under it, each with the
// exit code it gives. The golden file holds the output.
func TestErrorFormatting(t *testing.T) {
	root := &cobra.Command{Use: "stack"}
	for _, n := range []string{"up", "ps", "pull", "push"} {
		root.AddCommand(&cobra.Command{Use: n, Run: func(*cobra.Command, []string) {}})
	}
	dir := writeStack(t, "services:\n  web:\n    image: nginx\n    portz: [80]\n  db:\n    image: [x]\n")
	_, _, stackErrs := runCLI(t, dir, "config", "-q")
	cases := []struct {
		name string
		err  error
	}{
		{"unknown command", unknownCommand(root, "pu")},
		{"unknown service", noSuchService("ngnix", []string{"db", "nginx", "php"})},
		{"unknown service, nothing close", noSuchService("x", []string{"db", "nginx"})},
		{"build output", fmt.Errorf("build service php: %w", errors.New("step 3/7 RUN make: exit code 2\n\nmake: *** No rule to make target 'all'.  Stop.\n\tcc -o app main.c"))},
		{"several failures", errors.Join(errors.New("stop demo-web-1: timeout"), errors.New("remove network demo_default: in use"))},
		{"command not found", &commandError{code: 127, msg: `exec in demo-web-1: exec "ngin": executable file not found in $PATH: not found`}},
		{"interrupted", errInterrupted},
	}
	var out bytes.Buffer
	for _, c := range cases {
		fmt.Fprintf(&out, "== %s (exit %d)\n", c.name, exitCodeOf(c.err))
		var status exitStatus
		if !errors.As(c.err, &status) { // run prints nothing for those
			printError(&out, c.err)
		}
	}
	fmt.Fprintf(&out, "== stack file problems (exit 2)\n%s", strings.ReplaceAll(stackErrs, dir, "DIR"))
	testutil.Golden(t, filepath.Join("testdata", "errors.golden"), out.Bytes(), *update)
}

// exitCodeOf is run's exit code for err.
func exitCodeOf(err error) int {
	var status exitStatus
	if errors.As(err, &status) {
		return int(status)
	}
	return exitCode(err)
}
