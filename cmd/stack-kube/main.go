// Command stack-kube runs `stack convert` and `stack kube`: the stack
// file's services as Kubernetes objects, and those objects on a cluster.
// The stack command runs it, from beside itself, with the stack file's
// options it was given; it is a binary of its own so that the stack
// command and the daemon carry none of client-go's weight (about 14 MB of
// binary, 5 MiB of a resident daemon, milliseconds at every start).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command and returns the exit code: 0 on success, 2
// for a mistake in the input (a bad flag or stack file), 1 otherwise, as
// stack does.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "stack",
		Short:         "Run the stack file's services on Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "stack file (repeatable)")
	f.StringVarP(&g.project, "project-name", "p", "", "project name")
	f.StringVar(&g.projectDir, "project-directory", "", "project directory")
	f.StringArrayVar(&g.envFiles, "env-file", nil, "environment file (repeatable)")
	f.StringArrayVar(&g.profiles, "profile", nil, "profile to enable (repeatable)")
	root.AddCommand(newConvertCommand(g), newKubeCommand(g))
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var se *spec.Error
	if errors.As(err, &se) {
		for _, e := range spec.Errors(err) {
			fmt.Fprintln(stderr, e)
		}
	} else {
		first, rest, _ := strings.Cut(err.Error(), "\n")
		fmt.Fprintf(stderr, "stack: %s\n", first)
		for _, line := range strings.Split(rest, "\n") {
			if line != "" {
				fmt.Fprintf(stderr, "    %s\n", line)
			}
		}
	}
	if errors.Is(err, errdefs.ErrInvalidArgument) || strings.HasPrefix(err.Error(), "unknown ") || strings.Contains(err.Error(), "flag") {
		return 2
	}
	return 1
}

// globalOptions are the stack file's options, as stack passes them on.
type globalOptions struct {
	files, envFiles, profiles []string
	project, projectDir       string

	stdin          io.Reader
	stdout, stderr io.Writer
}

// loadProject loads the stack as stack loads it, and prints its warnings.
func (g *globalOptions) loadProject() (*spec.Project, error) {
	p, err := spec.Load(spec.LoadOptions{
		Files: g.files, WorkingDir: g.projectDir, ProjectName: g.project, EnvFiles: g.envFiles,
		Environ: os.Environ(), Stdin: g.stdin,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(g.stderr, "WARN[0000] %s\n", w)
	}
	return p, nil
}

// activeProfiles returns --profile values, or COMPOSE_PROFILES.
func (g *globalOptions) activeProfiles() []string {
	return spec.ActiveProfiles(g.profiles, os.Getenv("COMPOSE_PROFILES"))
}

// selectServices keeps the services the profiles and SERVICE arguments
// enable, as stack's commands do.
func selectServices(p *spec.Project, profiles, args []string) (*spec.Project, error) {
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: profiles, Services: args})
	if err != nil {
		return nil, err
	}
	return planner.Restrict(p, sel), nil
}

// argsError is a mistake in the command line.
func argsError(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}
