package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

func projectCommands(g *globalOptions) []*cobra.Command {
	cmds := []*cobra.Command{newUpCommand(g), newDownCommand(g), newPsCommand(g), newLogsCommand(g), newLsCommand(g), newEventsCommand(g),
		newExecCommand(g), newRunCommand(g), newCommitCommand(g)}
	for _, op := range []struct{ name, short string }{
		{"stop", "Stop services"}, {"start", "Start stopped services"}, {"restart", "Restart services"},
		{"kill", "Kill services"}, {"pause", "Pause services"}, {"unpause", "Unpause services"},
	} {
		cmds = append(cmds, newLifecycleCommand(g, op.name, op.short))
	}
	return cmds
}

// projectName names the project a command acts on: the stack file's, or
// when there is none, -p, COMPOSE_PROJECT_NAME or the directory's name.
func (g *globalOptions) projectName() (string, error) {
	p, err := g.loadProject()
	if err == nil {
		return p.Name, nil
	}
	if !errors.Is(err, errdefs.ErrNotFound) {
		return "", err
	}
	if g.project != "" {
		return g.project, nil
	}
	if n := os.Getenv("COMPOSE_PROJECT_NAME"); n != "" {
		return spec.NormalizeProjectName(n), nil
	}
	dir := g.projectDir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	return spec.NormalizeProjectName(filepath.Base(dir)), nil
}

func newUpCommand(g *globalOptions) *cobra.Command {
	var o struct {
		detach, forceRecreate, noRecreate, noDeps, removeOrphans, wait, build bool
		scale                                                                 []string
		timeout, waitTimeout                                                  int
		contract                                                              upContractOptions
	}
	cmd := &cobra.Command{
		Use:   "up [SERVICE...]",
		Short: "Create and start the stack's containers",
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
			req := api.UpRequest{Project: data, Profiles: g.activeProfiles(), Services: args, NoDeps: o.noDeps,
				ForceRecreate: o.forceRecreate, NoRecreate: o.noRecreate, RemoveOrphans: o.removeOrphans,
				Wait: o.wait, Timeout: time.Duration(o.waitTimeout) * time.Second, Build: o.build}
			if err := o.contract.apply(p, &req, o.detach || o.wait); err != nil {
				return err
			}
			if o.forceRecreate && o.noRecreate {
				return argsError("--force-recreate and --no-recreate cannot be combined")
			}
			if len(o.scale) > 0 {
				req.Scale = map[string]int{}
				for _, s := range o.scale {
					name, n, ok := strings.Cut(s, "=")
					num, err := strconv.Atoi(n)
					if !ok || err != nil || num < 0 {
						return argsError("--scale %q: want SERVICE=NUMBER", s)
					}
					req.Scale[name] = num
				}
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			if err := runEvents(ctx, c, "/projects/"+p.Name+"/up", req, g.stdout); err != nil {
				return err
			}
			if o.detach || o.wait {
				return nil
			}
			return g.foreground(ctx, c, p, args, o.contract.foreground, stopGrace(cmd, o.timeout))
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.detach, "detach", "d", false, "run in the background")
	f.BoolVar(&o.build, "build", false, "build images of services with build: before starting, even if they exist")
	f.BoolVar(&o.forceRecreate, "force-recreate", false, "recreate containers even if nothing changed")
	f.BoolVar(&o.noRecreate, "no-recreate", false, "do not recreate containers that exist")
	f.BoolVar(&o.noDeps, "no-deps", false, "do not start the named services' dependencies")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "remove containers of services no longer in the stack file")
	f.StringArrayVar(&o.scale, "scale", nil, "run N containers of a service: SERVICE=N (repeatable)")
	f.BoolVar(&o.wait, "wait", false, "wait until services are running and healthy")
	f.IntVar(&o.waitTimeout, "wait-timeout", 0, "seconds --wait waits at most (default 300)")
	f.IntVarP(&o.timeout, "timeout", "t", 0, "seconds to wait for containers to stop on Ctrl-C")
	o.contract.addFlags(f)
	return cmd
}

// runEvents sends an operation and prints its progress; the operation's
// error, if any, comes as the last event.
func runEvents(ctx context.Context, c *api.Client, path string, req any, w io.Writer) error {
	var failure error
	err := c.Stream(ctx, "POST", path, req, func(raw json.RawMessage) error {
		var ev api.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		if ev.Action == "error" {
			failure = remoteFailure(ev)
			return nil
		}
		printEvent(w, ev)
		return nil
	})
	if err != nil {
		return err
	}
	return failure
}

// remoteFailure rebuilds the error of a failed streamed operation with
// its class.
func remoteFailure(ev api.Event) error {
	body, _ := json.Marshal(api.Error{Class: ev.Message, Message: ev.Error})
	return api.FromHTTP(500, body)
}

// printEvent prints one step of an operation, in the spirit of docker
// compose's progress lines.
func printEvent(w io.Writer, ev api.Event) {
	what := map[string]string{
		"create": "Created", "start": "Started", "stop": "Stopped", "remove": "Removed", "restart": "Restarted",
		"healthy": "Healthy", "unhealthy": "Unhealthy", "exited": "Exited", "kill": "Killed", "pause": "Paused", "unpause": "Unpaused",
	}
	switch ev.Action {
	case "network-create":
		fmt.Fprintf(w, " Network %s  Created\n", strings.Fields(ev.Message)[0])
	case "network-remove":
		fmt.Fprintf(w, " Network %s  Removed\n", ev.Message)
	case "volume-create":
		fmt.Fprintf(w, " Volume %s  Created\n", ev.Message)
	case "volume-remove":
		fmt.Fprintf(w, " Volume %s  Removed\n", ev.Message)
	case "pull":
		fmt.Fprintf(w, " Image %s\n", ev.Message)
	case "image-remove":
		fmt.Fprintf(w, " Image %s  Removed\n", ev.Message)
	case "warning":
		fmt.Fprintf(w, " warning: %s\n", ev.Message)
	case "build", "build-step", "built":
		fmt.Fprintf(w, " Image %s  %s\n", ev.Service, ev.Message)
	default:
		word := what[ev.Action]
		if word == "" {
			word = ev.Action
		}
		fmt.Fprintf(w, " Container %s  %s\n", ev.Container, word)
	}
}

func newDownCommand(g *globalOptions) *cobra.Command {
	var volumes, removeOrphans bool
	var timeout int
	var rmi string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove the stack's containers and networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			req := api.DownRequest{Volumes: volumes, RemoveOrphans: removeOrphans, Timeout: stopGrace(cmd, timeout), RemoveImages: rmi}
			return runEvents(cmd.Context(), c, "/projects/"+name+"/down", req, g.stdout)
		},
	}
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove named and anonymous volumes too")
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "remove containers of services not in the stack file (down removes them anyway)")
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "seconds to wait for each container to stop")
	cmd.Flags().StringVar(&rmi, "rmi", "", `remove images too: "local" (built for the project) or "all"`)
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
	var timeout int
	var signalName string
	cmd := &cobra.Command{
		Use:   op + " [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.StopRequest{Services: args, Timeout: stopGrace(cmd, timeout), Signal: signalName}
			name, c, err := "", (*api.Client)(nil), error(nil)
			if op == "start" {
				if name, err = g.startRequest(&req); err == nil {
					c, err = g.client(cmd.Context())
				}
			} else {
				name, c, err = g.projectClient(cmd.Context())
			}
			if err != nil {
				return err
			}
			return runEvents(cmd.Context(), c, "/projects/"+name+"/"+op, req, g.stdout)
		},
	}
	if op == "stop" || op == "restart" {
		cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "seconds to wait before killing")
	}
	if op == "kill" {
		cmd.Flags().StringVarP(&signalName, "signal", "s", "SIGKILL", "signal to send")
	}
	return cmd
}

func newPsCommand(g *globalOptions) *cobra.Command {
	var all, quiet, services bool
	var format string
	cmd := &cobra.Command{
		Use:   "ps [SERVICE...]",
		Short: "List the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			var cs []api.Container
			if err := c.Do(cmd.Context(), "GET", "/projects/"+name+"/containers", nil, &cs); err != nil {
				return err
			}
			want := map[string]bool{}
			for _, a := range args {
				want[a] = true
			}
			var shown []api.Container
			for _, ct := range cs {
				if (len(want) == 0 || want[ct.Service]) && (all || ct.State == "running" || ct.State == "paused") {
					shown = append(shown, ct)
				}
			}
			switch {
			case format == "json":
				if shown == nil {
					shown = []api.Container{}
				}
				return writeJSON(g.stdout, shown)
			case quiet:
				for _, ct := range shown {
					fmt.Fprintln(g.stdout, ct.ID)
				}
				return nil
			case services:
				seen := map[string]bool{}
				for _, ct := range shown {
					if !seen[ct.Service] {
						seen[ct.Service] = true
						fmt.Fprintln(g.stdout, ct.Service)
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
			for _, ct := range shown {
				command := strings.Join(ct.Command, " ")
				if len(command) > 20 {
					command = command[:19] + "…"
				}
				fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", ct.Name, ct.Image, command, ct.Service, ago(ct.Created), containerStatus(ct), formatPorts(ct.Ports))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show stopped containers too")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print container IDs only")
	cmd.Flags().BoolVar(&services, "services", false, "print service names only")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// containerStatus reads like docker's: "Up 5 minutes (healthy)",
// "Exited (1) 2 minutes ago".
func containerStatus(c api.Container) string {
	switch c.State {
	case "running", "paused":
		s := "Up " + strings.TrimSuffix(ago(c.Started), " ago")
		if strings.HasPrefix(s, "Up Less than a minute") {
			s = "Up " + time.Since(c.Started).Round(time.Second).String()
		}
		if c.State == "paused" {
			s += " (Paused)"
		}
		if c.Health != "" {
			s += " (" + c.Health + ")"
		}
		return s
	case "exited":
		return fmt.Sprintf("Exited (%d) %s", c.ExitCode, ago(c.Finished))
	}
	return c.State
}

func formatPorts(ports []api.Port) string {
	var out []string
	for _, p := range ports {
		host := p.HostIP
		if host == "" {
			host = "0.0.0.0"
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", host, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}

func newLogsCommand(g *globalOptions) *cobra.Command {
	var follow, timestamps, noPrefix bool
	var tail, since string
	cmd := &cobra.Command{
		Use:   "logs [SERVICE...]",
		Short: "Show the output of the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return err
				}
				since = t.Format(time.RFC3339Nano)
			}
			ctx := cmd.Context()
			if follow {
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
			}
			return g.streamLogs(ctx, c, name, args, tail, since, follow, timestamps, noPrefix)
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new output (-f)")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	cmd.Flags().BoolVar(&noPrefix, "no-log-prefix", false, "do not prefix lines with the container name")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "lines to show from the end of each container's log")
	cmd.Flags().StringVar(&since, "since", "", "show output since a time (RFC 3339) or a duration ago (10m)")
	return cmd
}

func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, argsError("--since %q: want a duration (10m) or an RFC 3339 time", s)
	}
	return t, nil
}

func (g *globalOptions) followLogs(ctx context.Context, c *api.Client, project string, services []string, tail string, follow, timestamps bool) error {
	return g.streamLogs(ctx, c, project, services, tail, "", follow, timestamps, false)
}

// logColors are the ANSI colours of the per-service prefixes, in the
// order docker compose uses them.
var logColors = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func (g *globalOptions) streamLogs(ctx context.Context, c *api.Client, project string, services []string, tail, since string, follow, timestamps, noPrefix bool) error {
	q := []string{"tail", tail, "since", since}
	if follow {
		q = append(q, "follow", "true")
	}
	path := "/projects/" + project + "/logs" + api.Query(q...)
	for _, s := range services {
		path += "&service=" + s
		if !strings.Contains(path, "?") {
			path = strings.Replace(path, "&", "?", 1)
		}
	}
	color := isTerminal(g.stdout)
	colors := map[string]string{}
	width := 0
	err := c.Stream(ctx, "GET", path, nil, func(raw json.RawMessage) error {
		var l api.LogLine
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		if l.Container == "" && l.Line == "" {
			var e struct{ Error api.Error }
			if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
				body, _ := json.Marshal(e.Error)
				return api.FromHTTP(500, body)
			}
		}
		line := strings.TrimSuffix(l.Line, "\n")
		if timestamps {
			line = l.Time.Format(time.RFC3339Nano) + " " + line
		}
		if noPrefix {
			fmt.Fprintln(g.stdout, line)
			return nil
		}
		if len(l.Container) > width {
			width = len(l.Container)
		}
		prefix := fmt.Sprintf("%-*s  | ", width, l.Container)
		if color {
			col, ok := colors[l.Service]
			if !ok {
				col = logColors[len(colors)%len(logColors)]
				colors[l.Service] = col
			}
			prefix = "\x1b[" + col + "m" + prefix + "\x1b[0m"
		}
		fmt.Fprintln(g.stdout, prefix+line)
		return nil
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// isTerminal reports whether w is a terminal, for colour.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newLsCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List running stacks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var ps []api.Project
			if err := c.Do(cmd.Context(), "GET", "/projects", nil, &ps); err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(g.stdout, ps)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\n", p.Name, p.Status)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func newEventsCommand(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Stream what happens to the stack's containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = c.Stream(ctx, "GET", "/events"+api.Query("project", name), nil, func(raw json.RawMessage) error {
				if jsonOut {
					fmt.Fprintln(g.stdout, string(raw))
					return nil
				}
				var ev api.Event
				if err := json.Unmarshal(raw, &ev); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s container %s %s %s\n", ev.Time.Format(time.RFC3339Nano), ev.Action, ev.Container, ev.Message)
				return nil
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print events as JSON lines")
	return cmd
}
