package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/spec"
)

func newRunCommand(g *globalOptions) *cobra.Command {
	var o struct {
		rm, detach, noDeps, noTTY, tty bool
		useAliases                     bool
		name, user, workdir, entry     string
		env                            []string
	}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command in a new container of a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			data, err := spec.RenderJSON(p)
			if err != nil {
				return err
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			in, inIsFile := g.stdin.(*os.File)
			out, outIsFile := g.stdout.(*os.File)
			tty := !o.detach && (o.tty || (!o.noTTY && inIsFile && outIsFile && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd()))))
			req := api.RunRequest{Project: data, Service: args[0], Cmd: args[1:], Env: o.env, User: o.user, Workdir: o.workdir,
				Name: o.name, Tty: tty, Remove: o.rm, NoDeps: o.noDeps, Detach: o.detach, UseAliases: o.useAliases}
			if o.entry != "" {
				if req.Entrypoint, err = spec.SplitShell(o.entry); err != nil {
					return fmt.Errorf("--entrypoint: %w", err)
				}
			}
			if o.detach {
				var res api.RunResult
				if _, err := c.Run(ctx, p.Name, req, &res); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, res.Name)
				return nil
			}
			return runAttached(ctx, c, p.Name, req, g.stdin, g.stdout, g.stderr)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVar(&o.rm, "rm", false, "remove the container when it exits")
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "run in the background and print the container's name")
	cmd.Flags().BoolVar(&o.noDeps, "no-deps", false, "do not start the service's dependencies")
	cmd.Flags().BoolVar(&o.useAliases, "use-aliases", false, "use the service's network aliases in the network(s) the container connects to")
	cmd.Flags().BoolVarP(&o.noTTY, "no-TTY", "T", false, "do not allocate a pseudo-TTY")
	cmd.Flags().BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY even when stdin is not a terminal")
	cmd.Flags().BoolP("interactive", "i", true, "keep stdin open (with a terminal)")
	cmd.Flags().StringVar(&o.name, "name", "", "name of the container")
	cmd.Flags().StringVarP(&o.user, "user", "u", "", "run as this user (name or uid[:gid])")
	cmd.Flags().StringVarP(&o.workdir, "workdir", "w", "", "working directory")
	cmd.Flags().StringVar(&o.entry, "entrypoint", "", "override the image's entrypoint")
	cmd.Flags().StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	return cmd
}

// runAttached relays a one-off container's terminal or output until it
// exits; its exit code becomes ours.
func runAttached(ctx context.Context, c *api.Client, project string, req api.RunRequest, stdin io.Reader, stdout, stderr io.Writer) error {
	t := terminalOf(stdin, req.Tty)
	req.Width, req.Height = terminalSize(t)
	fc, err := c.Run(ctx, project, req, nil)
	if err != nil {
		return err
	}
	defer fc.Close()
	return relaySession(fc, t, req.Tty, stdin, stdout, stderr)
}
