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
		noTTY, tty, interactive, detach, privileged bool
		user, workdir                               string
		env                                         []string
		index                                       int
	}
	cmd := &cobra.Command{
		Use:               "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short:             "Execute a command in a running container",
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.privileged {
				return fmt.Errorf("exec --privileged: %w: an exec'd process gets its container's privileges", errdefs.ErrNotImplemented)
			}
			name, _, c, err := g.serviceClient(cmd.Context(), args[:1])
			if err != nil {
				return err
			}
			req := api.ExecRequest{Service: args[0], Index: o.index, Cmd: args[1:], User: o.user, Workdir: o.workdir, Env: o.env}
			if o.detach {
				_, err := c.ExecDetached(cmd.Context(), name, req)
				return commandFailure(err)
			}
			// Like docker compose: a terminal unless -T, and only when
			// there is one to give it (-t insists).
			req.Tty = o.tty || (!o.noTTY && stdioIsTerminal(g))
			req.Stdin = o.interactive
			return runExec(cmd.Context(), c, name, req, g.stdin, g.stdout, g.stderr)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.noTTY, "no-tty", "T", false, "disable pseudo-TTY allocation. By default 'exec' allocates a TTY")
	f.BoolVarP(&o.noTTY, "no-TTY", "", false, "")
	f.MarkHidden("no-TTY")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY even when stdin is not a terminal")
	f.MarkHidden("tty")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "keep STDIN open even if not attached")
	f.MarkHidden("interactive")
	f.BoolVarP(&o.detach, "detach", "d", false, "detached mode: run command in the background")
	f.BoolVar(&o.privileged, "privileged", false, "give extended privileges to the process (not supported)")
	f.StringVarP(&o.user, "user", "u", "", "run the command as this user")
	f.StringVarP(&o.workdir, "workdir", "w", "", "path to workdir directory for this command")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set environment variables")
	f.IntVar(&o.index, "index", 0, "index of the container if service has multiple replicas")
	g.registerIndexCompletion(cmd)
	return cmd
}

// stdioIsTerminal reports whether stdin and stdout are both terminals.
func stdioIsTerminal(g *globalOptions) bool {
	in, inIsFile := g.stdin.(*os.File)
	out, outIsFile := g.stdout.(*os.File)
	return inIsFile && outIsFile && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd()))
}

// runExec starts req and relays the terminal or the standard streams
// until the command exits; its exit code becomes ours.
func runExec(ctx context.Context, c *api.Client, project string, req api.ExecRequest, stdin io.Reader, stdout, stderr io.Writer) error {
	t := terminalOf(stdin, req.Tty)
	req.Width, req.Height = terminalSize(t)
	fc, err := c.Exec(ctx, project, req)
	if err != nil {
		return commandFailure(err)
	}
	defer fc.Close()
	if err := relaySession(fc, t, req.Stdin || req.Tty, stdin, stdout, stderr); err != nil {
		var status exitStatus
		var cmdErr *commandError
		if errors.As(err, &status) || errors.As(err, &cmdErr) {
			return err
		}
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}
