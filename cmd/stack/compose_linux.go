package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/muesli/termenv"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// composeCommands are the compose commands of the Compose contract: rm,
// wait, login and logout.
func composeCommands(g *globalOptions) []*cobra.Command {
	return []*cobra.Command{newRmCommand(g), newWaitCommand(g), newLoginCommand(g), newLogoutCommand(g)}
}

func newRmCommand(g *globalOptions) *cobra.Command {
	var force, stop, volumes, all bool
	cmd := &cobra.Command{
		Use:               "rm [OPTIONS] [SERVICE...]",
		Short:             "Removes stopped service containers, one-off containers included",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, _, c, err := g.serviceClient(ctx, args)
			if err != nil {
				return err
			}
			req := api.RemoveRequest{Services: args, Stop: stop, Volumes: volumes}
			path := "/projects/" + name + "/rm"
			var res struct{ Containers []string }
			dry := req
			dry.DryRun = true
			if err := c.Do(ctx, "POST", path, dry, &res); err != nil {
				return err
			}
			if len(res.Containers) == 0 {
				fmt.Fprintln(g.stderr, "No stopped containers")
				return nil
			}
			// As compose's: the list on stdout, a question unless -f, and
			// the stops and removals on the progress display.
			msg := "Going to remove " + strings.Join(res.Containers, ", ")
			if force {
				fmt.Fprintln(g.stdout, msg)
			} else {
				fmt.Fprintf(g.stdout, "%s\nAre you sure? [yN] ", msg)
				answer, _ := bufio.NewReader(g.stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return nil
				}
			}
			pr := g.newProgress("Running")
			defer pr.Done()
			if stop {
				if err := runEvents(ctx, c, "/projects/"+name+"/stop", api.StopRequest{Services: args}, pr, nil); err != nil {
					return err
				}
			}
			if err := c.Do(ctx, "POST", path, req, &res); err != nil {
				return err
			}
			for _, ct := range res.Containers {
				pr.Event(progressEvent{ID: "Container " + ct, Text: "Removed", Status: statusDone})
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "don't ask to confirm removal")
	cmd.Flags().BoolVarP(&stop, "stop", "s", false, "stop the containers, if required, before removing")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove any anonymous volumes attached to containers")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "deprecated: no effect")
	cmd.Flags().MarkHidden("all")
	return cmd
}

func newWaitCommand(g *globalOptions) *cobra.Command {
	var down bool
	cmd := &cobra.Command{
		Use:   "wait SERVICE [SERVICE...] [OPTIONS]",
		Short: "Block until containers of all (or specified) services stop",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, c, err := g.projectClient(ctx)
			if err != nil {
				return err
			}
			var res api.WaitResult
			var got bool
			err = c.Stream(ctx, "POST", "/projects/"+name+"/wait", api.WaitRequest{Services: args, DownProject: down}, func(raw json.RawMessage) error {
				var e api.Exit
				if json.Unmarshal(raw, &e) == nil && e.Service != "" {
					fmt.Fprintf(g.stdout, "container %q exited with status code %d\n", e.Container, e.ExitCode)
					return nil
				}
				got = true
				return json.Unmarshal(raw, &res)
			})
			if err != nil {
				return err
			}
			if got && res.ExitCode != 0 {
				return exitStatus(res.ExitCode)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&down, "down-project", false, "drops project when the first container stops")
	return cmd
}

// startRequest is the request of start and restart: with the stack
// file's model when there is one (and the services checked against it),
// so the services start in dependency order with their conditions, as
// compose's start and restart.
func (g *globalOptions) startRequest(req *api.StopRequest) (string, error) {
	p, err := g.loadProject()
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return g.projectName()
		}
		return "", err
	}
	if err := checkServices(p, req.Services); err != nil {
		return "", err
	}
	data, err := spec.RenderJSON(p)
	if err != nil {
		return "", err
	}
	req.Project, req.Profiles = data, g.activeProfiles()
	return p.Name, nil
}

// foregroundOptions are up's flags for the foreground: what is attached,
// and when and how up ends.
type foregroundOptions struct {
	abortOnExit        bool
	abortOnFailure     bool
	exitCodeFrom       string
	attach             []string
	noAttach           []string
	attachDependencies bool
}

func (o *foregroundOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.abortOnExit, "abort-on-container-exit", false, "stops all containers if any container was stopped; incompatible with -d")
	f.BoolVar(&o.abortOnFailure, "abort-on-container-failure", false, "stops all containers if any container exited with failure; incompatible with -d")
	f.StringVar(&o.exitCodeFrom, "exit-code-from", "", "return the exit code of the selected service container; implies --abort-on-container-exit")
	f.StringArrayVar(&o.attach, "attach", nil, "restrict attaching to the specified services; incompatible with --attach-dependencies")
	f.StringArrayVar(&o.noAttach, "no-attach", nil, "do not attach (stream logs) to the specified services")
	f.BoolVar(&o.attachDependencies, "attach-dependencies", false, "automatically attach to log output of dependent services")
}

// check refuses what compose refuses (cmd/compose/up.go validateFlags),
// in its words.
func (o foregroundOptions) check(p *spec.Project, detach, wait bool) error {
	if o.abortOnExit && o.abortOnFailure {
		return argsError("--abort-on-container-failure cannot be combined with --abort-on-container-exit")
	}
	if len(o.attach) > 0 && o.attachDependencies {
		return argsError("cannot combine --attach and --attach-dependencies")
	}
	if detach && (o.abortOnExit || o.abortOnFailure || o.exitCodeFrom != "" || len(o.attach) > 0 || o.attachDependencies) {
		what := "--detach"
		if wait {
			what = "--wait"
		}
		return argsError("%s cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --exit-code-from, --attach or --attach-dependencies", what)
	}
	for _, s := range append(append([]string{o.exitCodeFrom}, o.attach...), o.noAttach...) {
		if _, ok := p.Services[s]; s != "" && !ok {
			return fmt.Errorf("no such service: %s: %w", s, errdefs.ErrNotFound)
		}
	}
	return nil
}

// attached are the services a foreground up shows the output of, as
// compose's: those of --attach; otherwise the named ones (all when none
// is), with their dependencies under --attach-dependencies, but for those
// with attach: false; less those of --no-attach.
func (o foregroundOptions) attached(p *spec.Project, services, profiles []string) ([]string, error) {
	attached := o.attach
	if len(attached) == 0 {
		attached = services
		if len(attached) == 0 {
			attached = p.ServiceNames()
		} else if o.attachDependencies {
			sel, err := planner.Select(p, planner.SelectOptions{Profiles: profiles, Services: services})
			if err != nil {
				return nil, err
			}
			attached = sel.Services()
		}
		attached = slices.DeleteFunc(slices.Clone(attached), func(s string) bool {
			svc := p.Services[s]
			return svc != nil && svc.Attach != nil && !*svc.Attach
		})
	}
	return slices.DeleteFunc(slices.Clone(attached), func(s string) bool { return slices.Contains(o.noAttach, s) }), nil
}

// aborts says whether a container's exit ends a foreground up: any exit
// with --abort-on-container-exit (or --exit-code-from), a failed one with
// --abort-on-container-failure.
func (o foregroundOptions) aborts(exitCode int) bool {
	if o.abortOnFailure {
		return exitCode != 0
	}
	return o.abortOnExit || o.exitCodeFrom != ""
}

// foreground is up without -d, as compose's: the output of the attached
// services ([foregroundOptions.attached]), a line "NAME exited with code
// N" for each exit, and the end once every watched container has exited.
// --abort-on-container-exit stops the services at the first exit and
// returns its code, --abort-on-container-failure at the first failed one;
// --exit-code-from returns that service's code. Lines are prefixed with
// the container's name, coloured per service, unless --no-log-prefix or
// --no-color, and carry their time with --timestamps. Output from before
// since (when up began) is not shown. Ctrl-C stops the
// services gracefully, a second one kills them, and up exits 130.
func (g *globalOptions) foreground(ctx context.Context, c *api.Client, p *spec.Project, services []string, o foregroundOptions, since time.Time, timeout time.Duration, lo logOptions) error {
	attached, err := o.attached(p, services, g.activeProfiles())
	if err != nil {
		return err
	}
	if cs, err := g.containers(ctx, c, p.Name); err == nil {
		var names []string
		for _, ct := range cs {
			if !ct.OneOff && slices.Contains(attached, ct.Service) {
				names = append(names, logName(p.Name, ct.Service, ct.Name))
			}
		}
		slices.Sort(names)
		if len(names) > 0 {
			fmt.Fprintf(g.stdout, "Attaching to %s\n", strings.Join(names, ", "))
		}
	}
	// Compose's monitor watches the named services, or the attached ones
	// when none is named: up returns once they have all exited.
	req := api.AttachRequest{Logs: attached, Watch: services, NoLogs: len(attached) == 0, Since: since}
	if len(req.Watch) == 0 {
		req.Watch = attached
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stopped := make(chan error, 2)
	var interrupted, stopping atomic.Bool
	stop := func(op string) {
		go func() {
			req := api.StopRequest{Services: services}
			if op == "stop" {
				req.Timeout = timeout
			}
			pr := g.newProgress(map[string]string{"stop": "Stopping", "kill": "Killing"}[op])
			defer pr.Done()
			stopped <- runEvents(context.WithoutCancel(ctx), c, "/projects/"+p.Name+"/"+op, req, pr, nil)
		}()
	}
	go func() {
		for range sigs {
			if interrupted.CompareAndSwap(false, true) {
				fmt.Fprintln(g.stderr, "Gracefully stopping... (press Ctrl+C again to force)")
				stop("stop")
				continue
			}
			stop("kill")
		}
	}()

	color := !lo.noColor && g.color(g.stdout)
	colors := map[string]termenv.ANSIColor{}
	out := termenv.NewOutput(g.stdout, termenv.WithProfile(termenv.ANSI))
	width := 0
	for _, r := range attached {
		width = max(width, len(r)+2)
	}
	prefix := func(container, service string, pad bool) string {
		container = logName(p.Name, service, container)
		width = max(width, len(container))
		pre := container
		if pad {
			pre = fmt.Sprintf("%-*s", width, container)
		}
		if !color {
			return pre
		}
		col, ok := colors[service]
		if !ok {
			col = logColors[len(colors)%len(logColors)]
			colors[service] = col
		}
		return out.String(pre).Foreground(col).String()
	}
	code, gotCode := 0, false
	err = c.Stream(ctx, "POST", "/projects/"+p.Name+"/attach", req, func(raw json.RawMessage) error {
		var ev api.AttachEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		switch {
		case ev.Log != nil:
			line := strings.TrimSuffix(ev.Log.Line, "\n")
			if lo.timestamps {
				line = ev.Log.Time.Format(rfc3339NanoFixed) + " " + line
			}
			if lo.noPrefix {
				fmt.Fprintln(g.stdout, line)
			} else {
				fmt.Fprintf(g.stdout, "%s  | %s\n", prefix(ev.Log.Container, ev.Log.Service, true), line)
			}
		case ev.Exit != nil:
			e := ev.Exit
			msg := fmt.Sprintf("exited with code %d", e.ExitCode)
			if e.Restarting {
				msg += " (restarting)"
			}
			fmt.Fprintf(g.stdout, "%s %s\n", prefix(e.Container, e.Service, false), msg)
			if e.Restarting {
				return nil
			}
			if o.exitCodeFrom != "" && e.Service == o.exitCodeFrom && !gotCode {
				code, gotCode = e.ExitCode, true
			}
			if o.aborts(e.ExitCode) && !interrupted.Load() && stopping.CompareAndSwap(false, true) {
				if o.exitCodeFrom == "" {
					code, gotCode = e.ExitCode, true
				}
				fmt.Fprintln(g.stdout, "Aborting on container exit...")
				stop("stop")
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if stopping.Load() || interrupted.Load() {
		if serr := <-stopped; serr != nil {
			return serr
		}
	}
	if interrupted.Load() {
		return exitStatus(130)
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// dockerConfigPath is the Docker client configuration that credentials go
// to and come from: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json, the file go-containerregistry's keychain reads.
func dockerConfigPath() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return dir + "/config.json"
	}
	home, _ := os.UserHomeDir()
	return home + "/.docker/config.json"
}

// readPassword reads one line of r, a password or a user name.
func readLine(r io.Reader) string {
	line, _ := bufio.NewReader(r).ReadString('\n')
	return strings.TrimRight(line, "\r\n")
}

// upContractOptions are up's flags of the Compose contract.
type upContractOptions struct {
	foreground         foregroundOptions
	renewAnonVolumes   bool
	alwaysRecreateDeps bool
	pull               string
	noBuild            bool
}

func (o *upContractOptions) addFlags(f *pflag.FlagSet) {
	o.foreground.addFlags(f)
	f.BoolVarP(&o.renewAnonVolumes, "renew-anon-volumes", "V", false, "recreate anonymous volumes instead of retrieving data from the previous containers")
	f.BoolVar(&o.alwaysRecreateDeps, "always-recreate-deps", false, "recreate dependent containers; incompatible with --no-recreate")
	o.addPullFlags(f)
}

// addPullFlags adds the flags create shares with up.
func (o *upContractOptions) addPullFlags(f *pflag.FlagSet) {
	f.StringVar(&o.pull, "pull", "", `pull image before running ("always"|"missing"|"never")`)
	f.BoolVar(&o.noBuild, "no-build", false, "don't build an image, even if it's policy")
}

// apply checks the flags and puts them into req.
func (o upContractOptions) apply(p *spec.Project, req *api.UpRequest, detach bool) error {
	if err := o.foreground.check(p, detach, req.Wait); err != nil {
		return err
	}
	switch o.pull {
	case "", "always", "missing", "never":
	default:
		return argsError("--pull %q: want always, missing or never", o.pull)
	}
	if o.noBuild && req.Build {
		return argsError("--build and --no-build are incompatible")
	}
	if o.alwaysRecreateDeps && req.NoRecreate {
		return argsError("--always-recreate-deps and --no-recreate are incompatible")
	}
	if o.renewAnonVolumes && req.NoRecreate {
		return argsError("--no-recreate and --renew-anon-volumes are incompatible")
	}
	req.RenewAnonVolumes, req.AlwaysRecreateDeps, req.Pull, req.NoBuild = o.renewAnonVolumes, o.alwaysRecreateDeps, o.pull, o.noBuild
	return nil
}
