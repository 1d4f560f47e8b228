package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

func newExecCommand(g *globalOptions) *cobra.Command {
	var o struct {
		noTTY, tty, interactive, detach bool
		user, workdir                   string
		env                             []string
		index                           int
	}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Run a command in a running service container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.detach {
				return fmt.Errorf("exec --detach: %w", errdefs.ErrNotImplemented)
			}
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			in, inIsFile := g.stdin.(*os.File)
			out, outIsFile := g.stdout.(*os.File)
			// Like docker compose: a terminal unless -T, and only when
			// there is one to give it (-t insists).
			tty := o.tty || (!o.noTTY && inIsFile && outIsFile && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd())))
			req := api.ExecRequest{Service: args[0], Index: o.index, Cmd: args[1:], Tty: tty, Stdin: o.interactive,
				User: o.user, Workdir: o.workdir, Env: o.env}
			return runExec(cmd.Context(), c, name, req, g.stdin, g.stdout, g.stderr)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&o.noTTY, "no-TTY", "T", false, "do not allocate a pseudo-TTY")
	cmd.Flags().BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY even when stdin is not a terminal")
	cmd.Flags().BoolVarP(&o.interactive, "interactive", "i", true, "keep stdin open")
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "run the command in the background")
	cmd.Flags().StringVarP(&o.user, "user", "u", "", "run as this user (name or uid[:gid])")
	cmd.Flags().StringVarP(&o.workdir, "workdir", "w", "", "working directory of the command")
	cmd.Flags().StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	cmd.Flags().IntVar(&o.index, "index", 0, "replica of the service (default: the first running one)")
	return cmd
}

// runExec starts req and relays the terminal or the standard streams
// until the command exits; its exit code becomes ours.
func runExec(ctx context.Context, c *api.Client, project string, req api.ExecRequest, stdin io.Reader, stdout, stderr io.Writer) error {
	t := terminalOf(stdin, req.Tty)
	req.Width, req.Height = terminalSize(t)
	fc, err := c.Exec(ctx, project, req)
	if err != nil {
		return err
	}
	defer fc.Close()
	if err := relaySession(fc, t, req.Stdin || req.Tty, stdin, stdout, stderr); err != nil {
		var status exitStatus
		if errors.As(err, &status) {
			return err
		}
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}
