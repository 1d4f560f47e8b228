package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
)

// psRow is a container as compose's ps prints it; its fields are compose's
// JSON keys and template fields.
type psRow struct {
	Command      string
	CreatedAt    string
	ExitCode     int
	Health       string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Name         string
	Names        string
	Networks     string
	Ports        string
	Project      string
	Publishers   []publisher
	RunningFor   string
	Service      string
	Size         string
	State        string
	Status       string
}

// publisher is a published port, compose's PortPublisher.
type publisher struct {
	URL           string
	TargetPort    int
	PublishedPort int
	Protocol      string
}

var psColumns = columns{
	defaultTable: `table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}`,
	headers: map[string]string{"ID": "CONTAINER ID", "Name": "NAME", "Project": "PROJECT", "Service": "SERVICE", "Image": "IMAGE",
		"Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
		"Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Health": "HEALTH", "ExitCode": "EXIT CODE",
		"Networks": "NETWORKS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Names": "NAMES", "Publishers": "PUBLISHERS"},
}

func newPSRow(c api.Container, trunc bool) psRow {
	command := strings.Join(c.Command, " ")
	if trunc && len([]rune(command)) > 20 {
		command = string([]rune(command)[:19]) + "…"
	}
	id := c.ID
	if trunc {
		id = shortID(id)
	}
	var nets []string
	for n := range c.Networks {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	r := psRow{
		Command: strconv.Quote(command), CreatedAt: c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		ExitCode: c.ExitCode, Health: c.Health, ID: id, Image: c.Image, Labels: "", LocalVolumes: "0",
		Name: c.Name, Names: c.Name, Networks: strings.Join(nets, ","), Ports: formatPorts(c.Ports), Project: c.Project,
		Publishers: []publisher{}, RunningFor: ago(c.Created), Service: c.Service, Size: "0B", State: c.State,
		Status: containerStatus(c),
	}
	for _, p := range c.Ports {
		host := p.HostIP
		if host == "" {
			host = "0.0.0.0"
		}
		r.Publishers = append(r.Publishers, publisher{URL: host, TargetPort: p.ContainerPort, PublishedPort: p.HostPort, Protocol: p.Protocol})
	}
	return r
}

// psStates are the states ps --status accepts, compose's.
var psStates = []string{"paused", "restarting", "removing", "running", "dead", "created", "exited"}

func newPsCommand(g *globalOptions) *cobra.Command {
	var o struct {
		all, quiet, services, noTrunc, orphans bool
		format, filter                         string
		status                                 []string
	}
	cmd := &cobra.Command{
		Use:               "ps [OPTIONS] [SERVICE...]",
		Short:             "List containers",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.filter != "" {
				key, val, ok := strings.Cut(o.filter, "=")
				switch {
				case !ok:
					return usageError{errors.New("arguments to --filter should be in form KEY=VAL")}
				case key == "status":
					o.status = append(o.status, val)
				case key == "source":
					return usageError{errors.New("--filter source: not implemented")}
				default:
					return usageError{fmt.Errorf("unknown filter %s", key)}
				}
			}
			for _, s := range o.status {
				if !slices.Contains(psStates, s) {
					return usageError{fmt.Errorf("invalid --status %q: want one of %s", s, strings.Join(psStates, ", "))}
				}
			}
			format, err := parseFormat(o.format)
			if err != nil {
				return err
			}
			name, p, c, err := g.serviceClient(cmd.Context(), args)
			if err != nil {
				return err
			}
			cs, err := g.containers(cmd.Context(), c, name)
			if err != nil {
				return err
			}
			want := map[string]bool{}
			for _, a := range args {
				want[a] = true
			}
			var shown []api.Container
			for _, ct := range cs {
				switch {
				case len(want) > 0 && !want[ct.Service]:
				case len(o.status) > 0 && !slices.Contains(o.status, ct.State):
				case len(o.status) == 0 && !o.all && ct.State != "running" && ct.State != "paused" && ct.State != "restarting":
				case !o.orphans && p != nil && p.Services[ct.Service] == nil:
				default:
					shown = append(shown, ct)
				}
			}
			sort.Slice(shown, func(i, j int) bool { return shown[i].Name < shown[j].Name })
			switch {
			case o.quiet:
				for _, ct := range shown {
					fmt.Fprintln(g.stdout, ct.ID)
				}
				return nil
			case o.services:
				var seen []string
				for _, ct := range shown {
					if !slices.Contains(seen, ct.Service) {
						seen = append(seen, ct.Service)
						fmt.Fprintln(g.stdout, ct.Service)
					}
				}
				return nil
			}
			rows := make([]any, 0, len(shown))
			for _, ct := range shown {
				rows = append(rows, newPSRow(ct, !o.noTrunc))
			}
			return format.write(g.stdout, psColumns, rows)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "format output using a custom template:\n'table': print output in table format with column headers (default)\n'table TEMPLATE': print output in table format using the given Go template\n'json': print in JSON format\n'TEMPLATE': print output using the given Go template")
	f.StringVar(&o.filter, "filter", "", "filter services by a property (supported filters: status)")
	f.StringArrayVar(&o.status, "status", nil, "filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only display IDs")
	f.BoolVar(&o.services, "services", false, "display services")
	f.BoolVar(&o.orphans, "orphans", true, "include orphaned services (not declared by project)")
	f.BoolVarP(&o.all, "all", "a", false, "show all stopped containers (including those created by the run command)")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "don't truncate output")
	cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(psStates, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
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
	case "created":
		return "Created"
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

// lsRow is a project as compose's ls prints it.
type lsRow struct {
	Name        string
	Status      string
	ConfigFiles string
}

var lsColumns = columns{
	defaultTable: `table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}`,
	headers:      map[string]string{"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"},
	shape:        jsonArray,
}

func newLsCommand(g *globalOptions) *cobra.Command {
	var format string
	var quiet, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running stack projects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []*regexp.Regexp
			for _, f := range filters {
				key, val, ok := strings.Cut(f, "=")
				if !ok || key != "name" {
					return usageError{fmt.Errorf("invalid filter '%s'", key)}
				}
				re, err := regexp.Compile(val)
				if err != nil {
					return usageError{fmt.Errorf("--filter name=%s: %v", val, err)}
				}
				names = append(names, re)
			}
			out, err := parseFormat(format)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var ps []api.Project
			if err := c.Do(cmd.Context(), "GET", "/projects", nil, &ps); err != nil {
				return err
			}
			var rows []any
			for _, p := range ps {
				if !all && p.Running == 0 {
					continue
				}
				if len(names) > 0 && !slices.ContainsFunc(names, func(re *regexp.Regexp) bool { return re.MatchString(p.Name) }) {
					continue
				}
				if quiet {
					fmt.Fprintln(g.stdout, p.Name)
					continue
				}
				rows = append(rows, lsRow{Name: p.Name, Status: p.Status, ConfigFiles: p.WorkDir})
			}
			if quiet {
				return nil
			}
			return out.write(g.stdout, lsColumns, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "format the output. Values: [table | json | TEMPLATE]")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display project names")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "filter output based on conditions provided (name=REGEXP)")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all stopped projects")
	return cmd
}

// imageRow is an image as compose's images prints it.
type imageRow struct {
	ID            string
	ContainerName string
	Repository    string
	Tag           string
	Platform      string
	Size          int64
	Created       *time.Time `json:",omitempty"`
	LastTagTime   time.Time  `json:",omitzero"`
}

var imageColumns = columns{
	defaultTable: `table {{.ContainerName}}\t{{.Repository}}\t{{.Tag}}\t{{.Platform}}\t{{.ShortID}}\t{{.HumanSize}}\t{{.CreatedSince}}`,
	headers: map[string]string{"ContainerName": "CONTAINER", "Repository": "REPOSITORY", "Tag": "TAG", "Platform": "PLATFORM",
		"ShortID": "IMAGE ID", "ID": "IMAGE ID", "HumanSize": "SIZE", "Size": "SIZE", "CreatedSince": "CREATED", "Created": "CREATED"},
	shape: jsonArray,
}

// ShortID, HumanSize and CreatedSince are the table's columns.
func (r imageRow) ShortID() string   { return shortID(r.ID) }
func (r imageRow) HumanSize() string { return humanSize(r.Size) }
func (r imageRow) CreatedSince() string {
	if r.Created == nil {
		return "N/A"
	}
	return ago(*r.Created)
}

func newImagesCommand(g *globalOptions) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:               "images [OPTIONS] [SERVICE...]",
		Short:             "List images used by the created containers",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := parseFormat(format)
			if err != nil {
				return err
			}
			name, _, c, err := g.serviceClient(cmd.Context(), args)
			if err != nil {
				return err
			}
			cs, err := g.containers(cmd.Context(), c, name)
			if err != nil {
				return err
			}
			var images []api.ImageSummary
			if err := c.Do(cmd.Context(), "GET", "/images", nil, &images); err != nil {
				return err
			}
			byRef := map[string]api.ImageSummary{}
			for _, img := range images {
				for _, t := range img.RepoTags {
					byRef[t] = img
				}
			}
			sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
			var rows []any
			var ids []string
			for _, ct := range cs {
				if len(args) > 0 && !slices.Contains(args, ct.Service) {
					continue
				}
				img, ok := byRef[ct.Image]
				if !ok {
					img, ok = byRef[ct.Image+":latest"]
				}
				repo, tag := splitTag(ct.Image)
				if tag == "<none>" {
					tag = "latest"
				}
				row := imageRow{ContainerName: ct.Name, Repository: repo, Tag: tag, Platform: "linux/" + goarch()}
				if ok {
					created := img.Created
					row.ID, row.Size, row.Created = img.ID, img.Size, &created
				}
				if quiet {
					if id := strings.TrimPrefix(row.ID, "sha256:"); !slices.Contains(ids, id) {
						ids = append(ids, id)
						fmt.Fprintln(g.stdout, id)
					}
					continue
				}
				rows = append(rows, row)
			}
			if quiet {
				return nil
			}
			return out.write(g.stdout, imageColumns, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "format the output. Values: [table | json | TEMPLATE]")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	return cmd
}

// volumeRow is a volume as compose's volumes prints it.
type volumeRow struct {
	Driver     string
	Name       string
	Mountpoint string
	Labels     string
	Scope      string
}

var volumeColumns = columns{
	defaultTable: `table {{.Driver}}\t{{.Name}}`,
	headers:      map[string]string{"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Scope": "SCOPE"},
}

// newVolumesCommand is compose's volumes: the project's volumes.
func newVolumesCommand(g *globalOptions) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:               "volumes [OPTIONS] [SERVICE...]",
		Short:             "List volumes",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := parseFormat(format)
			if err != nil {
				return err
			}
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			var vols []api.Volume
			if err := c.Do(cmd.Context(), "GET", "/volumes", nil, &vols); err != nil {
				return err
			}
			var rows []any
			for _, v := range vols {
				if v.Project != name {
					continue
				}
				if len(args) > 0 && !slices.ContainsFunc(v.UsedBy, func(ct string) bool {
					return slices.ContainsFunc(args, func(s string) bool { return strings.HasPrefix(ct, name+"-"+s+"-") })
				}) {
					continue
				}
				if quiet {
					fmt.Fprintln(g.stdout, v.Name)
					continue
				}
				rows = append(rows, volumeRow{Driver: v.Driver, Name: v.Name, Mountpoint: v.Mountpoint, Scope: "local"})
			}
			if quiet {
				return nil
			}
			return out.write(g.stdout, volumeColumns, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "format the output. Values: [table | json | TEMPLATE]")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	return cmd
}

func newEventsCommand(g *globalOptions) *cobra.Command {
	var jsonOut bool
	var since, until string
	cmd := &cobra.Command{
		Use:               "events [OPTIONS] [SERVICE...]",
		Short:             "Receive real time events from containers",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			if since != "" {
				return fmt.Errorf("events --since: past events are not kept: not implemented")
			}
			name, _, c, err := g.serviceClient(cmd.Context(), args)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if until != "" {
				t, err := parseTime(until, "--until")
				if err != nil {
					return err
				}
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, t)
				defer cancel()
			}
			err = c.Stream(ctx, "GET", "/events"+api.Query("project", name), nil, func(raw json.RawMessage) error {
				var ev api.Event
				if err := json.Unmarshal(raw, &ev); err != nil {
					return err
				}
				if len(args) > 0 && !slices.Contains(args, ev.Service) {
					return nil
				}
				if jsonOut {
					// compose's keys.
					return encodeJSONLine(g.stdout, map[string]any{"time": ev.Time, "type": "container", "action": ev.Action,
						"id": ev.Container, "service": ev.Service, "attributes": map[string]string{"name": ev.Container, "message": ev.Message}})
				}
				fmt.Fprintf(g.stdout, "%s container %s %s (name=%s, service=%s)\n", ev.Time.Format("2006-01-02 15:04:05.000000"), ev.Action, ev.Container, ev.Container, ev.Service)
				return nil
			})
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "output events as a stream of json objects")
	cmd.Flags().StringVar(&since, "since", "", "show all events created since timestamp")
	cmd.Flags().StringVar(&until, "until", "", "stream events until this timestamp")
	return cmd
}
