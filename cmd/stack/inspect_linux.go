package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
)

// inspectCommands are top, stats, port, volume, network and system.
func inspectCommands(g *globalOptions) []*cobra.Command {
	return []*cobra.Command{newTopCommand(g), newStatsCommand(g), newPortCommand(g),
		newVolumeCommand(g), newNetworkCommand(g), newSystemCommand(g)}
}

// serviceQuery is the query string naming services.
func serviceQuery(services []string, kv ...string) string {
	v := url.Values{}
	for _, s := range services {
		v.Add("service", s)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func newTopCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICE...]",
		Short: "Show the processes of the stack's running containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			var tops []api.ContainerTop
			if err := c.Do(cmd.Context(), "GET", "/projects/"+name+"/top"+serviceQuery(args), nil, &tops); err != nil {
				return err
			}
			return writeTop(g.stdout, tops)
		},
	}
}

// writeTop prints each container's name, then its processes as a table,
// as docker compose top does.
func writeTop(w io.Writer, tops []api.ContainerTop) error {
	for i, t := range tops {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, t.Name)
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Titles, "\t"))
		for _, p := range t.Processes {
			fmt.Fprintln(tw, strings.Join(p, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func newStatsCommand(g *globalOptions) *cobra.Command {
	var noStream, all, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [SERVICE]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := parseFormat(format)
			if err != nil {
				return err
			}
			name, p, err := g.projectOrName()
			if err != nil {
				return err
			}
			if err := checkServices(p, args); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			clear := !noStream && out.table && isTerminal(g.stdout)
			for {
				// The daemon samples CPU time over the window: the
				// refresh comes every second, as docker stats'.
				started := time.Now()
				var stats []api.ContainerStats
				err := c.Do(ctx, "GET", "/projects/"+name+"/stats"+serviceQuery(args, "window", "500ms"), nil, &stats)
				if errors.Is(err, context.Canceled) {
					return nil
				}
				if err != nil {
					return err
				}
				if clear {
					termenv.NewOutput(g.stdout).ClearScreen()
				}
				rows := make([]any, 0, len(stats))
				for _, s := range stats {
					rows = append(rows, newStatsRow(s, !noTrunc))
				}
				if err := out.write(g.stdout, statsColumns, rows); err != nil {
					return err
				}
				if noStream {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second - time.Since(started)):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "disable streaming stats and only pull the first result")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	cmd.Flags().StringVar(&format, "format", "", "format output using a custom template:\n'table': print output in table format with column headers (default)\n'table TEMPLATE': print output in table format using the given Go template\n'json': print in JSON format\n'TEMPLATE': print output using the given Go template")
	return cmd
}

// statsRow is a sample as docker stats prints it; the fields are its
// JSON keys and template fields.
type statsRow struct {
	BlockIO   string
	CPUPerc   string
	Container string
	ID        string
	MemPerc   string
	MemUsage  string
	Name      string
	NetIO     string
	PIDs      string
}

var statsColumns = columns{
	defaultTable: `table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}`,
	headers: map[string]string{"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
		"MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"},
}

func newStatsRow(s api.ContainerStats, trunc bool) statsRow {
	id := s.ID
	if trunc {
		id = shortID(id)
	}
	return statsRow{
		BlockIO: "0B / 0B", CPUPerc: fmt.Sprintf("%.2f%%", s.CPUPercent), Container: id, ID: id,
		MemPerc: fmt.Sprintf("%.2f%%", s.MemoryPercent), MemUsage: binarySize(s.MemoryUsage) + " / " + binarySize(s.MemoryLimit),
		Name: s.Name, NetIO: humanSize(int64(s.NetRx)) + " / " + humanSize(int64(s.NetTx)), PIDs: fmt.Sprint(s.Pids),
	}
}

func newPortCommand(g *globalOptions) *cobra.Command {
	var protocol string
	var index int
	cmd := &cobra.Command{
		Use:   "port SERVICE PRIVATE_PORT",
		Short: "Print the host address a service's port is published on",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			port, proto, err := parsePrivatePort(args[1], protocol)
			if err != nil {
				return err
			}
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			q := api.Query("service", args[0], "port", strconv.Itoa(port), "protocol", proto, "index", strconv.Itoa(index))
			var p api.Port
			if err := c.Do(cmd.Context(), "GET", "/projects/"+name+"/port"+q, nil, &p); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s:%d\n", p.HostIP, p.HostPort)
			return nil
		},
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 0, "replica of the service, when it has several (default: the first running)")
	return cmd
}

// parsePrivatePort reads "80" or "80/udp"; a protocol in the argument
// wins over --protocol, as for docker port.
func parsePrivatePort(arg, protocol string) (int, string, error) {
	num, proto, ok := strings.Cut(arg, "/")
	if !ok {
		proto = protocol
	}
	port, err := strconv.Atoi(num)
	if err != nil || port <= 0 || port > 65535 {
		return 0, "", argsError("private port %q: want a number from 1 to 65535", arg)
	}
	if proto != "tcp" && proto != "udp" {
		return 0, "", argsError("protocol %q: want tcp or udp", proto)
	}
	return port, proto, nil
}

func newVolumeCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	var format string
	var quiet bool
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var vols []api.Volume
			if err := c.Do(cmd.Context(), "GET", "/volumes", nil, &vols); err != nil {
				return err
			}
			return writeVolumes(g.stdout, vols, format, quiet)
		},
	}
	ls.Flags().StringVar(&format, "format", "table", "output format: table or json")
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "print volume names only")

	rm := &cobra.Command{
		Use:     "rm VOLUME...",
		Aliases: []string{"remove"},
		Short:   "Remove volumes that no container uses",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if err := c.Do(cmd.Context(), "DELETE", "/volumes/"+url.PathEscape(name), nil, nil); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(g.stdout, name)
			}
			return errors.Join(errs...)
		},
	}

	var all, force bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove anonymous volumes that no container uses (all unused ones with -a)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			what := "WARNING! This will remove anonymous local volumes not used by at least one container."
			if all {
				what = "WARNING! This will remove all local volumes not used by at least one container."
			}
			if !force && !confirm(g.stdin, g.stdout, what) {
				return nil
			}
			return g.prune(cmd.Context(), api.PruneRequest{Volumes: true, All: all})
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove named volumes too, not only anonymous ones")
	prune.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.AddCommand(ls, rm, prune)
	return cmd
}

func writeVolumes(w io.Writer, vols []api.Volume, format string, quiet bool) error {
	switch {
	case format == "json":
		return writeJSON(w, vols)
	case format != "table":
		return argsError("--format %q: want table or json", format)
	case quiet:
		for _, v := range vols {
			fmt.Fprintln(w, v.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "DRIVER\tVOLUME NAME\tPROJECT\tUSED BY")
	for _, v := range vols {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Driver, v.Name, v.Project, strings.Join(v.UsedBy, ", "))
	}
	return tw.Flush()
}

func newNetworkCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	var format string
	var quiet bool
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var nets []api.Network
			if err := c.Do(cmd.Context(), "GET", "/networks", nil, &nets); err != nil {
				return err
			}
			return writeNetworks(g.stdout, nets, format, quiet)
		},
	}
	ls.Flags().StringVar(&format, "format", "table", "output format: table or json")
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "print network names only")
	cmd.AddCommand(ls)
	return cmd
}

func writeNetworks(w io.Writer, nets []api.Network, format string, quiet bool) error {
	switch {
	case format == "json":
		return writeJSON(w, nets)
	case format != "table":
		return argsError("--format %q: want table or json", format)
	case quiet:
		for _, n := range nets {
			fmt.Fprintln(w, n.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDRIVER\tSUBNET\tGATEWAY\tBRIDGE\tPROJECT")
	for _, n := range nets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Driver, n.Subnet, n.Gateway, n.Bridge, n.Project)
	}
	return tw.Flush()
}

func newSystemCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage the engine"}
	var all, volumes, force bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove unused networks, dangling images and, with --volumes, unused anonymous volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force && !confirm(g.stdin, g.stdout, pruneWarning(all, volumes)) {
				return nil
			}
			return g.prune(cmd.Context(), api.PruneRequest{Networks: true, Images: true, Volumes: volumes, All: all})
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not only dangling ones (and named volumes with --volumes)")
	prune.Flags().BoolVar(&volumes, "volumes", false, "remove unused volumes too")
	prune.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.AddCommand(prune)
	return cmd
}

// pruneWarning lists what system prune removes, as docker's prompt does.
func pruneWarning(all, volumes bool) string {
	lines := []string{"WARNING! This will remove:", "  - all networks not used by at least one container"}
	if volumes {
		kind := "anonymous"
		if all {
			kind = "all"
		}
		lines = append(lines, "  - "+kind+" volumes not used by at least one container")
	}
	if all {
		lines = append(lines, "  - all images without at least one container associated to them")
	} else {
		lines = append(lines, "  - all dangling images")
	}
	return strings.Join(lines, "\n") + "\n"
}

// prune runs a prune and prints what it removed.
func (g *globalOptions) prune(ctx context.Context, req api.PruneRequest) error {
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	var rep api.PruneReport
	err = c.Do(ctx, "POST", "/prune", req, &rep)
	if err != nil {
		return err
	}
	writePruneReport(g.stdout, rep)
	return nil
}

func writePruneReport(w io.Writer, rep api.PruneReport) {
	for _, s := range []struct {
		title, prefix string
		names         []string
	}{{"Deleted Networks:", "", rep.Networks}, {"Deleted Volumes:", "", rep.Volumes}, {"Deleted Images:", "deleted: ", rep.Images}} {
		if len(s.names) == 0 {
			continue
		}
		fmt.Fprintln(w, s.title)
		for _, n := range s.names {
			fmt.Fprintln(w, s.prefix+n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Total reclaimed space: %s\n", humanSize(rep.SpaceReclaimed))
}

func newImagePruneCommand(g *globalOptions) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove dangling images (all unused ones with -a)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			what := "WARNING! This will remove all dangling images."
			if all {
				what = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !force && !confirm(g.stdin, g.stdout, what) {
				return nil
			}
			return g.prune(cmd.Context(), api.PruneRequest{Images: true, All: all})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not only dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	return cmd
}
