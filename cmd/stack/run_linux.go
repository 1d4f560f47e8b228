package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

func newRunCommand(g *globalOptions) *cobra.Command {
	var o struct {
		rm, detach, noDeps, noTTY, tty, interactive, servicePorts, useAliases, build bool
		quiet, quietBuild, quietPull, removeOrphans                                  bool
		name, user, workdir, entry, pull                                             string
		env, envFiles, publish, volumes, labels, capAdd, capDrop                     []string
	}
	cmd := &cobra.Command{
		Use:               "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short:             "Run a one-off command on a service",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if o.servicePorts && len(o.publish) > 0 {
				return usageError{fmt.Errorf("--service-ports and --publish are incompatible")}
			}
			switch o.pull {
			case "", "always", "missing", "never":
			default:
				return argsError("--pull %q: want always, missing or never", o.pull)
			}
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			if err := checkServices(p, args[:1]); err != nil {
				return err
			}
			svc := p.Services[args[0]]
			keepPorts, err := runOverrides(p, svc, o.publish, o.volumes, o.labels, o.capAdd, o.capDrop, o.servicePorts)
			if err != nil {
				return err
			}
			env := o.env
			for _, f := range o.envFiles {
				file, err := os.Open(f)
				if err != nil {
					return fmt.Errorf("--env-from-file: %w", err)
				}
				vars, err := spec.ParseDotEnv(file, f, func(k string) (string, bool) { return os.LookupEnv(k) })
				file.Close()
				if err != nil {
					return err
				}
				for _, k := range sortedNames(vars) {
					env = append([]string{k + "=" + vars[k]}, env...)
				}
			}
			data, err := spec.RenderJSON(p)
			if err != nil {
				return err
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			if o.build || svc.Build != nil {
				pr := g.newProgress("Building")
				if o.quiet || o.quietBuild {
					pr = quietProgress{}
				}
				err := g.buildForUp(ctx, c, p, args[:1], true, o.build, false, pr)
				pr.Done()
				if err != nil {
					return err
				}
			}
			tty := !o.detach && (o.tty || (!o.noTTY && stdioIsTerminal(g)))
			req := api.RunRequest{Project: data, Service: args[0], Cmd: args[1:], Env: env, User: o.user, Workdir: o.workdir,
				Name: o.name, Tty: tty, Remove: o.rm, NoDeps: o.noDeps, Detach: o.detach, KeepPorts: keepPorts, UseAliases: o.useAliases, Pull: o.pull, RemoveOrphans: o.removeOrphans}
			if o.entry != "" {
				if req.Entrypoint, err = spec.SplitShell(o.entry); err != nil {
					return usageError{fmt.Errorf("--entrypoint: %w", err)}
				}
			}
			if o.detach {
				var res api.RunResult
				if _, err := c.Run(ctx, p.Name, req, &res); err != nil {
					return commandFailure(err)
				}
				fmt.Fprintln(g.stdout, res.Name)
				return nil
			}
			return runAttached(ctx, c, p.Name, req, g.stdin, g.stdout, g.stderr)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	// compose's old spelling, which it still takes.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "no-TTY" {
			name = "no-tty"
		}
		return pflag.NormalizedName(name)
	})
	f.BoolVar(&o.build, "build", false, "build image before starting container")
	f.StringArrayVar(&o.capAdd, "cap-add", nil, "add Linux capabilities")
	f.StringArrayVar(&o.capDrop, "cap-drop", nil, "drop Linux capabilities")
	f.BoolVarP(&o.detach, "detach", "d", false, "run container in background and print container ID")
	f.StringVar(&o.entry, "entrypoint", "", "override the entrypoint of the image")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set environment variables")
	f.StringArrayVar(&o.envFiles, "env-from-file", nil, "set environment variables from file")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "keep STDIN open even if not attached")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "add or override a label")
	f.StringVar(&o.name, "name", "", "assign a name to the container")
	f.BoolVar(&o.noDeps, "no-deps", false, "don't start linked services")
	f.BoolVarP(&o.noTTY, "no-tty", "T", false, "disable pseudo-TTY allocation (default: auto-detected)")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY even when stdin is not a terminal")
	f.MarkHidden("tty")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a container's port(s) to the host")
	f.StringVar(&o.pull, "pull", "", `pull image before running ("always"|"missing"|"never")`)
	f.BoolVarP(&o.quiet, "quiet", "q", false, "don't print anything to STDOUT")
	f.BoolVar(&o.quietBuild, "quiet-build", false, "suppress progress output from the build process")
	f.BoolVar(&o.quietPull, "quiet-pull", false, "pull without printing progress information")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "remove containers for services not defined in the stack file")
	f.BoolVar(&o.rm, "rm", false, "automatically remove the container when it exits")
	f.BoolVarP(&o.servicePorts, "service-ports", "P", false, "run command with all service's ports enabled and mapped to the host")
	f.BoolVar(&o.useAliases, "use-aliases", false, "use the service's network aliases in the network(s) the container connects to")
	f.StringVarP(&o.user, "user", "u", "", "run as specified username or uid")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "bind mount a volume")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory inside the container")
	return cmd
}

// runOverrides applies run's -p, -v, -l, --cap-add and --cap-drop to the
// service the one-off is made from, and says whether its ports are to be
// published (-p or --service-ports; compose's run publishes none
// otherwise).
func runOverrides(p *spec.Project, svc *spec.Service, publish, volumes, labels, capAdd, capDrop []string, servicePorts bool) (bool, error) {
	keep := servicePorts
	if len(publish) > 0 {
		svc.Ports = nil
		for _, s := range publish {
			ports, err := spec.ParsePortSpec(s)
			if err != nil {
				return false, usageError{fmt.Errorf("--publish %q: %w", s, err)}
			}
			svc.Ports = append(svc.Ports, ports...)
		}
		keep = true
	}
	for _, s := range volumes {
		v, err := spec.ParseVolumeSpec(s)
		if err != nil {
			return false, usageError{fmt.Errorf("--volume: %w", err)}
		}
		if v.Type == spec.VolumeTypeBind {
			if strings.HasPrefix(v.Source, "~") {
				home, _ := os.UserHomeDir()
				v.Source = filepath.Join(home, v.Source[1:])
			}
			if !filepath.IsAbs(v.Source) {
				v.Source = filepath.Join(p.WorkingDir, v.Source)
			}
		}
		if v.Type == spec.VolumeTypeVolume && v.Source != "" && p.Volumes[v.Source] == nil {
			return false, fmt.Errorf("--volume %q: volume %s is not declared in the stack file's volumes: %w", s, v.Source, errdefs.ErrInvalidArgument)
		}
		svc.Volumes = append(svc.Volumes, v)
	}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if svc.Labels == nil {
			svc.Labels = map[string]string{}
		}
		svc.Labels[k] = v
	}
	svc.CapAdd = append(svc.CapAdd, capAdd...)
	svc.CapDrop = append(svc.CapDrop, capDrop...)
	return keep, nil
}

// runAttached relays a one-off container's terminal or output until it
// exits; its exit code becomes ours.
func runAttached(ctx context.Context, c *api.Client, project string, req api.RunRequest, stdin io.Reader, stdout, stderr io.Writer) error {
	t := terminalOf(stdin, req.Tty)
	req.Width, req.Height = terminalSize(t)
	fc, err := c.Run(ctx, project, req, nil)
	if err != nil {
		return commandFailure(err)
	}
	defer fc.Close()
	return relaySession(fc, t, req.Tty, stdin, stdout, stderr)
}
