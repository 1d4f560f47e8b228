package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

func projectCommands(g *globalOptions) []*cobra.Command {
	cmds := []*cobra.Command{newUpCommand(g), newCreateCommand(g), newDownCommand(g), newPsCommand(g), newLogsCommand(g),
		newLsCommand(g), newEventsCommand(g), newExecCommand(g), newRunCommand(g), newCommitCommand(g),
		newImagesCommand(g), newScaleCommand(g), newCpCommand(g), newAttachCommand(g), newWatchCommand(g),
		newVolumesCommand(g)}
	for _, op := range []struct{ name, short string }{
		{"stop", "Stop services"}, {"start", "Start services"}, {"restart", "Restart service containers"},
		{"kill", "Force stop service containers"}, {"pause", "Pause services"}, {"unpause", "Unpause services"},
	} {
		cmds = append(cmds, newLifecycleCommand(g, op.name, op.short))
	}
	return cmds
}

// projectName names the project a command acts on: the stack file's, or
// when there is none, -p, COMPOSE_PROJECT_NAME or the directory's name.
func (g *globalOptions) projectName() (string, error) {
	name, _, err := g.projectOrName()
	return name, err
}

// projectOrName is projectName with the project, when there is a stack
// file, for the commands that check service names against it.
func (g *globalOptions) projectOrName() (string, *spec.Project, error) {
	p, err := g.loadProject()
	if err == nil {
		return p.Name, p, nil
	}
	if !errors.Is(err, errdefs.ErrNotFound) {
		return "", nil, err
	}
	if g.project != "" {
		return g.project, nil, nil
	}
	if n := os.Getenv("COMPOSE_PROJECT_NAME"); n != "" {
		return spec.NormalizeProjectName(n), nil, nil
	}
	dir := g.projectDir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	return spec.NormalizeProjectName(filepath.Base(dir)), nil, nil
}

// upOptions are the flags up and create share.
type upOptions struct {
	detach, forceRecreate, noRecreate, noDeps, removeOrphans, wait, build bool
	noStart, noColor, noLogPrefix, timestamps, quietBuild, quietPull, yes bool
	watch, menu                                                           bool
	scale                                                                 []string
	timeout, waitTimeout                                                  int
	// contract are the flags of the Compose contract: the foreground's,
	// -V, --always-recreate-deps, --pull and --no-build.
	contract upContractOptions
}

func newUpCommand(g *globalOptions) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:               "up [OPTIONS] [SERVICE...]",
		Short:             "Create and start containers",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runUp(cmd, o, args)
		},
	}
	f := cmd.Flags()
	o.addCreateFlags(f)
	f.BoolVarP(&o.detach, "detach", "d", false, "detached mode: run containers in the background")
	f.BoolVar(&o.noDeps, "no-deps", false, "don't start linked services")
	f.BoolVar(&o.noStart, "no-start", false, "don't start the services after creating them")
	f.BoolVar(&o.noColor, "no-color", false, "produce monochrome output")
	f.BoolVar(&o.noLogPrefix, "no-log-prefix", false, "don't print prefix in logs")
	f.BoolVar(&o.timestamps, "timestamps", false, "show timestamps")
	f.BoolVar(&o.quietBuild, "quiet-build", false, "suppress the build output")
	f.BoolVar(&o.wait, "wait", false, "wait for services to be running|healthy; implies detached mode")
	f.IntVar(&o.waitTimeout, "wait-timeout", 0, "maximum duration in seconds to wait for the project to be running|healthy")
	f.IntVarP(&o.timeout, "timeout", "t", 0, "use this timeout in seconds for container shutdown when attached or when containers are already running")
	f.BoolVarP(&o.watch, "watch", "w", false, "watch source code and rebuild/refresh containers when files are updated")
	f.BoolVar(&o.menu, "menu", false, "enable interactive shortcuts when running attached (not supported: it drives Docker Desktop)")
	o.contract.addFlags(f)
	return cmd
}

// newCreateCommand is up --no-start -d, as compose's create.
func newCreateCommand(g *globalOptions) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:               "create [OPTIONS] [SERVICE...]",
		Short:             "Creates containers for a service",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.noStart, o.detach = true, true
			return g.runUp(cmd, o, args)
		},
	}
	o.addCreateFlags(cmd.Flags())
	o.contract.addPullFlags(cmd.Flags())
	return cmd
}

func (o *upOptions) addCreateFlags(f interface {
	BoolVar(*bool, string, bool, string)
	BoolVarP(*bool, string, string, bool, string)
	StringArrayVar(*[]string, string, []string, string)
}) {
	f.BoolVar(&o.build, "build", false, "build images before starting containers")
	f.BoolVar(&o.forceRecreate, "force-recreate", false, "recreate containers even if their configuration and image haven't changed")
	f.BoolVar(&o.noRecreate, "no-recreate", false, "if containers already exist, don't recreate them")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "remove containers for services not defined in the stack file")
	f.BoolVar(&o.quietPull, "quiet-pull", false, "pull without printing progress information")
	f.StringArrayVar(&o.scale, "scale", nil, "scale SERVICE to NUM instances; overrides the scale setting in the stack file if present")
	f.BoolVarP(&o.yes, "yes", "y", false, `assume "yes" as answer to all prompts and run non-interactively`)
}

// parseScale reads --scale SERVICE=NUM flags.
func parseScale(p *spec.Project, flags []string) (map[string]int, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string]int{}
	for _, s := range flags {
		name, n, ok := strings.Cut(s, "=")
		num, err := strconv.Atoi(n)
		if !ok || err != nil || num < 0 {
			return nil, usageError{fmt.Errorf("invalid scale %q: want SERVICE=NUM", s)}
		}
		if err := checkServices(p, []string{name}); err != nil {
			return nil, err
		}
		out[name] = num
	}
	return out, nil
}

func (g *globalOptions) runUp(cmd *cobra.Command, o upOptions, args []string) error {
	ctx := cmd.Context()
	if o.forceRecreate && o.noRecreate {
		return usageError{errors.New("--force-recreate and --no-recreate are incompatible")}
	}
	if o.menu {
		return fmt.Errorf("up --menu drives Docker Desktop: %w", errdefs.ErrNotImplemented)
	}
	if o.wait || o.noStart {
		o.detach = true // nothing runs to attach to with --no-start
	}
	if o.watch && o.detach {
		return usageError{errors.New("--watch and --detach are incompatible")}
	}
	p, err := g.loadProject()
	if err != nil {
		return err
	}
	if err := checkServices(p, args); err != nil {
		return err
	}
	scale, err := parseScale(p, o.scale)
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
	req := api.UpRequest{Project: data, Profiles: g.activeProfiles(), Services: args, NoDeps: o.noDeps,
		ForceRecreate: o.forceRecreate, NoRecreate: o.noRecreate, RemoveOrphans: o.removeOrphans,
		Wait: o.wait, Timeout: time.Duration(o.waitTimeout) * time.Second, Scale: scale, NoStart: o.noStart}
	req.Build = o.build // checked against --no-build, then left to the builds below
	if err := o.contract.apply(p, &req, o.detach); err != nil {
		return err
	}
	req.Build = false
	pr := g.newProgress("Running")
	defer pr.Done()
	// With --no-build the daemon refuses a missing image of a service
	// with build:; otherwise the missing ones (all, with --build) are
	// built here, in parallel, and the daemon does not build them again
	// one by one.
	if !req.NoBuild {
		if err := g.buildForUp(ctx, c, p, args, o.noDeps, o.build, o.quietBuild, pr); err != nil {
			return err
		}
	}
	began := time.Now()
	before, _ := g.containers(ctx, c, p.Name)
	touched := map[string]bool{}
	err = runEvents(ctx, c, "/projects/"+p.Name+"/up", req, pr, func(ev api.Event) {
		touched[ev.Container] = true
	})
	if err != nil {
		return err
	}
	// Compose says "Running" for what up found as it should be.
	if !o.noStart {
		sel, _ := planner.Select(p, planner.SelectOptions{Profiles: g.activeProfiles(), Services: args, NoDeps: o.noDeps})
		for _, ct := range before {
			if !touched[ct.Name] && ct.State == "running" && (sel == nil || sel.Has(ct.Service)) && !ct.OneOff {
				pr.Event(progressEvent{ID: "Container " + ct.Name, Text: "Running", Status: statusDone})
			}
		}
	}
	pr.Done()
	if o.detach {
		return nil
	}
	if o.watch {
		go g.watchProject(ctx, c, p, args, watchOptions{quiet: true, prune: true})
	}
	return g.foreground(ctx, c, p, args, o.contract.foreground, began, stopGrace(cmd, o.timeout), logOptions{noColor: o.noColor, noPrefix: o.noLogPrefix, timestamps: o.timestamps})
}

// containers lists a project's containers.
func (g *globalOptions) containers(ctx context.Context, c *api.Client, project string) ([]api.Container, error) {
	var cs []api.Container
	err := c.Do(ctx, "GET", "/projects/"+project+"/containers", nil, &cs)
	return cs, err
}

// runEvents sends an operation and shows its progress; the operation's
// error, if any, is what Stream returns (the stream's last line, an
// api.StreamError). seen, when not nil, is called with every event.
func runEvents(ctx context.Context, c *api.Client, path string, req any, pr progress, seen func(api.Event)) error {
	return c.Stream(ctx, "POST", path, req, func(raw json.RawMessage) error {
		var ev api.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		if seen != nil {
			seen(ev)
		}
		if ev.Action == api.ActionWarning {
			pr.Warn(ev.Message)
			return nil
		}
		if e, ok := progressOf(ev); ok {
			pr.Event(e)
		}
		return nil
	})
}

// errInterrupted is a foreground up stopped with Ctrl-C: exit 130, as
// compose.
var errInterrupted = exitStatus(130)

func newDownCommand(g *globalOptions) *cobra.Command {
	var volumes, removeOrphans bool
	var timeout int
	var rmi string
	cmd := &cobra.Command{
		Use:               "down [OPTIONS] [SERVICES]",
		Short:             "Stop and remove containers, networks",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			// down SERVICE... takes those services down and the ones that
			// depend on them, as compose's; with a stack file a service
			// it does not have is an error, without one it is ignored
			// (compose cannot tell a typo from a service already gone).
			name, p, c, err := g.serviceClient(cmd.Context(), args)
			if err != nil {
				return err
			}
			pr := g.newProgress("Running")
			defer pr.Done()
			req := api.DownRequest{Volumes: volumes, RemoveOrphans: removeOrphans, Timeout: stopGrace(cmd, timeout), RemoveImages: rmi, Services: args}
			if p != nil && len(args) > 0 {
				req.StackServices = p.ServiceNames()
			}
			return runEvents(cmd.Context(), c, "/projects/"+name+"/down", req, pr, nil)
		},
	}
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove named volumes declared in the \"volumes\" section of the stack file and anonymous volumes attached to containers")
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "remove containers for services not defined in the stack file")
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "specify a shutdown timeout in seconds")
	cmd.Flags().StringVar(&rmi, "rmi", "", `remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")`)
	cmd.RegisterFlagCompletionFunc("rmi", cobra.FixedCompletions([]string{"local", "all"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// stopGrace turns a -t flag into the grace period of a request: zero (the
// services' own) when not given, and for an explicit -t 0 the shortest
// one, so that 0 means what it means to docker: no wait before SIGKILL.
func stopGrace(cmd *cobra.Command, seconds int) time.Duration {
	if !cmd.Flags().Changed("timeout") {
		return 0
	}
	if seconds <= 0 {
		return time.Nanosecond
	}
	return time.Duration(seconds) * time.Second
}

func newLifecycleCommand(g *globalOptions, op, short string) *cobra.Command {
	var timeout, waitTimeout int
	var signalName string
	var noDeps, removeOrphans, wait bool
	cmd := &cobra.Command{
		Use:               op + " [OPTIONS] [SERVICE...]",
		Short:             short,
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.StopRequest{Services: args, Timeout: stopGrace(cmd, timeout), Signal: signalName, RemoveOrphans: removeOrphans, NoDeps: noDeps}
			var name string
			var p *spec.Project
			var c *api.Client
			var err error
			if op == "start" || op == "restart" {
				// With the stack file's model: the services start in
				// dependency order with their conditions, as compose's,
				// and restart takes its dependents along.
				if name, err = g.startRequest(&req); err == nil {
					c, err = g.client(cmd.Context())
				}
			} else {
				name, p, c, err = g.serviceClient(cmd.Context(), args)
			}
			if err != nil {
				return err
			}
			if op == "kill" && p != nil {
				req.StackServices = p.ServiceNames()
			}
			pr := g.newProgress(map[string]string{"stop": "Stopping", "kill": "Killing", "restart": "Restarting"}[op])
			if op == "start" || op == "pause" || op == "unpause" {
				pr = g.newProgress("Running")
			}
			defer pr.Done()
			if err := runEvents(cmd.Context(), c, "/projects/"+name+"/"+op, req, pr, nil); err != nil || !wait {
				return err
			}
			return g.waitRunning(cmd.Context(), c, name, args, time.Duration(waitTimeout)*time.Second, pr)
		},
	}
	if op == "start" {
		cmd.Flags().BoolVar(&wait, "wait", false, "wait for services to be running|healthy")
		cmd.Flags().IntVar(&waitTimeout, "wait-timeout", 0, "maximum duration in seconds to wait for the project to be running|healthy")
	}
	if op == "stop" || op == "restart" {
		cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "specify a shutdown timeout in seconds")
	}
	if op == "restart" {
		cmd.Flags().BoolVar(&noDeps, "no-deps", false, "don't restart dependent services")
	}
	if op == "kill" {
		cmd.Flags().StringVarP(&signalName, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
		cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "remove containers for services not defined in the stack file")
	}
	return cmd
}

func newScaleCommand(g *globalOptions) *cobra.Command {
	var noDeps bool
	cmd := &cobra.Command{
		Use:               "scale [SERVICE=REPLICAS...]",
		Short:             "Scale services",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			scale, err := parseScale(p, args)
			if err != nil {
				return err
			}
			data, err := spec.RenderJSON(p)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			services := sortedNames(scale)
			pr := g.newProgress("Running")
			defer pr.Done()
			req := api.UpRequest{Project: data, Profiles: g.activeProfiles(), Services: services, NoDeps: noDeps, Scale: scale}
			return runEvents(cmd.Context(), c, "/projects/"+p.Name+"/up", req, pr, nil)
		},
	}
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "don't start linked services")
	return cmd
}

// replicaIndexes are the numbers of a service's containers, from the
// engine (or the stack file's scale when the engine does not answer).
func (g *globalOptions) replicaIndexes(cmd *cobra.Command, service string) []string {
	name, p, err := g.projectOrName()
	if err != nil {
		return nil
	}
	c, err := g.newClient()
	ctx, cancel := completionContext()
	defer cancel()
	if err == nil {
		if cs, err := g.containers(ctx, c, name); err == nil {
			var out []string
			for _, ct := range cs {
				if ct.Service == service && ct.Number > 0 && !slices.Contains(out, strconv.Itoa(ct.Number)) {
					out = append(out, strconv.Itoa(ct.Number))
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	if p != nil && p.Services[service] != nil {
		return indexesOfScale(p.Services[service].Replicas())
	}
	return nil
}

// projectNames are the projects the engine knows, for -p.
func (g *globalOptions) projectNames(cmd *cobra.Command) []string {
	c, err := g.newClient()
	if err != nil {
		return nil
	}
	ctx, cancel := completionContext()
	defer cancel()
	var ps []api.Project
	if err := c.Do(ctx, "GET", "/projects", nil, &ps); err != nil {
		return nil
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// serviceClient is the start of a command on some of a project's
// services: the project's name (and its stack file, when there is one),
// the services checked against it, and a connection to the daemon.
func (g *globalOptions) serviceClient(ctx context.Context, services []string) (string, *spec.Project, *api.Client, error) {
	name, p, err := g.projectOrName()
	if err != nil {
		return "", nil, nil, err
	}
	if err := checkServices(p, services); err != nil {
		return "", nil, nil, err
	}
	c, err := g.client(ctx)
	return name, p, c, err
}

// waitRunning waits until the services' containers (all when services is
// empty) run, and are healthy where they have a health check, as start
// --wait does; timeout 0 waits as long as it takes.
func (g *globalOptions) waitRunning(ctx context.Context, c *api.Client, project string, services []string, timeout time.Duration, pr progress) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cs, err := g.containers(ctx, c, project)
		if err != nil {
			return err
		}
		ready := true
		for _, ct := range cs {
			if len(services) > 0 && !slices.Contains(services, ct.Service) || ct.OneOff {
				continue
			}
			switch {
			case ct.Health == "unhealthy":
				return fmt.Errorf("container %s is unhealthy", ct.Name)
			case ct.State == "exited":
				return fmt.Errorf("container %s exited (%d)", ct.Name, ct.ExitCode)
			case ct.State != "running" || (ct.Health != "" && ct.Health != "healthy"):
				ready = false
			}
		}
		if ready {
			for _, ct := range cs {
				if ct.Health == "healthy" && (len(services) == 0 || slices.Contains(services, ct.Service)) {
					pr.Event(progressEvent{ID: "Container " + ct.Name, Text: "Healthy", Status: statusDone})
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("services not running and healthy within %s", timeout)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
