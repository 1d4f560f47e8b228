package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
)

func newImageCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
	}
	cmd.AddCommand(newImageImportCommand(g), newImageListCommand(g), newImageRemoveCommand(g),
		newImageHistoryCommand(g), newImageInspectCommand(g), newImagePruneCommand(g), newImageTagCommand(g))
	cmd.AddCommand(imageRegistryCommands(g)...)
	return cmd
}

func newImageImportCommand(g *globalOptions) *cobra.Command {
	var rootfs, name string
	var changes []string
	cmd := &cobra.Command{
		Use:   "import FILE|- | import --rootfs DIR|TAR NAME[:TAG]",
		Short: "Import images from a docker-save or OCI archive, or a root filesystem",
		Long: `Import reads a docker-save or OCI archive (a file, or - for standard input)
and stores every image in it. With --rootfs it stores a root filesystem (a
directory or a tar) as a single-layer image named NAME[:TAG]; --change sets
its config with Dockerfile instructions (CMD, ENTRYPOINT, ENV, WORKDIR, USER).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			if rootfs != "" {
				src, err := filepath.Abs(rootfs)
				if err != nil {
					return err
				}
				req := api.RootfsImport{Source: src, Ref: args[0]}
				for _, c := range changes {
					if err := applyChange(&req, c); err != nil {
						return err
					}
				}
				var img api.ImageSummary
				if err := c.Do(ctx, "POST", "/images/import-rootfs", req, &img); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "imported %s %s\n", strings.Join(img.RepoTags, ", "), shortID(img.ID))
				return nil
			}
			if len(changes) > 0 {
				return argsError("--change applies to --rootfs imports only")
			}
			var r io.Reader = g.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				r = f
			}
			var imgs []api.ImageSummary
			if err := c.Do(ctx, "POST", "/images/import"+api.Query("name", name), r, &imgs); err != nil {
				return err
			}
			for _, img := range imgs {
				tags := strings.Join(img.RepoTags, ", ")
				if tags == "" {
					tags = "<none>"
				}
				fmt.Fprintf(g.stdout, "imported %s %s\n", tags, shortID(img.ID))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rootfs, "rootfs", "", "import this root filesystem (directory or tar) as NAME[:TAG]")
	cmd.Flags().StringVar(&name, "name", "", "repository for images the archive leaves unnamed")
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, `apply a Dockerfile instruction to a --rootfs image ('CMD ["/bin/sh"]')`)
	return cmd
}

// applyChange applies one Dockerfile instruction of `import --change`.
func applyChange(req *api.RootfsImport, change string) error {
	instr, arg, _ := strings.Cut(strings.TrimSpace(change), " ")
	arg = strings.TrimSpace(arg)
	words := func() ([]string, error) {
		if strings.HasPrefix(arg, "[") {
			var list []string
			if err := json.Unmarshal([]byte(arg), &list); err != nil {
				return nil, argsError("--change %q: invalid JSON list: %v", change, err)
			}
			return list, nil
		}
		return []string{"/bin/sh", "-c", arg}, nil
	}
	var err error
	switch strings.ToUpper(instr) {
	case "CMD":
		req.Cmd, err = words()
	case "ENTRYPOINT":
		req.Entrypoint, err = words()
	case "ENV":
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			k, v, _ = strings.Cut(arg, " ")
		}
		req.Env = append(req.Env, strings.TrimSpace(k)+"="+strings.TrimSpace(v))
	case "WORKDIR":
		req.WorkingDir = arg
	case "USER":
		req.User = arg
	default:
		return argsError("--change %q: want CMD, ENTRYPOINT, ENV, WORKDIR or USER", change)
	}
	return err
}

func newImageListCommand(g *globalOptions) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var imgs []api.ImageSummary
			if err := c.Do(cmd.Context(), "GET", "/images", nil, &imgs); err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(g.stdout, imgs)
			}
			if quiet {
				for _, img := range imgs {
					fmt.Fprintln(g.stdout, shortID(img.ID))
				}
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			for _, img := range imgs {
				tags := img.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					repo, tag := splitTag(t)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, shortID(img.ID), ago(img.Created), humanSize(img.Size))
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print image IDs only")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func newImageRemoveCommand(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm IMAGE...",
		Aliases: []string{"remove"},
		Short:   "Remove images",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			for _, ref := range args {
				var rep api.ImageRemoveReport
				if err := c.Do(cmd.Context(), "DELETE", "/images/"+api.EscapeRef(ref)+api.Query("force", boolParam(force)), nil, &rep); err != nil {
					return err
				}
				for _, u := range rep.Untagged {
					fmt.Fprintf(g.stdout, "Untagged: %s\n", u)
				}
				for _, del := range rep.Deleted {
					fmt.Fprintf(g.stdout, "Deleted: %s\n", del)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the image even if it has several names or is in use")
	return cmd
}

func newImageHistoryCommand(g *globalOptions) *cobra.Command {
	var noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "history IMAGE",
		Short: "Show the layers and steps of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var h []api.ImageHistoryEntry
			if err := c.Do(cmd.Context(), "GET", "/images/history/"+api.EscapeRef(args[0]), nil, &h); err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(g.stdout, h)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
			for _, e := range h {
				id, by := e.ID, strings.Join(strings.Fields(e.CreatedBy), " ")
				if !noTrunc {
					if id != "<missing>" {
						id = shortID(id)
					}
					if len(by) > 45 {
						by = by[:44] + "…"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, ago(e.Created), by, humanSize(e.Size), e.Comment)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func newImageInspectCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect IMAGE...",
		Short: "Show the configuration of images as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var out []api.ImageInspect
			for _, ref := range args {
				var in api.ImageInspect
				if err := c.Do(cmd.Context(), "GET", "/images/inspect/"+api.EscapeRef(ref), nil, &in); err != nil {
					return err
				}
				out = append(out, in)
			}
			return writeJSON(g.stdout, out)
		},
	}
}

// engineInfo asks the daemon what `stack info` shows.
func (g *globalOptions) engineInfo(ctx context.Context) (api.Info, error) {
	var info api.Info
	c, err := g.client(ctx)
	if err != nil {
		return info, err
	}
	err = c.Do(ctx, "GET", "/info", nil, &info)
	return info, err
}

func newInfoCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the engine's storage driver, cgroup version and counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := g.engineInfo(cmd.Context())
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(g.stdout, info)
			}
			w := g.stdout
			fmt.Fprintf(w, "Server Version: %s\nAPI Version: %s\n", info.ServerVersion, info.APIVersion)
			fmt.Fprintf(w, "Containers: %d (running: %d)\nImages: %d\n", info.Containers, info.ContainersRunning, info.Images)
			fmt.Fprintf(w, "Storage Driver: %s\nCgroup Driver: %s\nCgroup Version: %s\nRuntime: %s\n", info.StorageDriver, info.CgroupDriver, info.CgroupVersion, info.Runtime)
			if len(info.SecurityOptions) > 0 {
				fmt.Fprintln(w, "Security Options:")
				for _, o := range info.SecurityOptions {
					// docker's layout: the name, then each other key.
					for i, kv := range strings.Split(o, ",") {
						k, v, _ := strings.Cut(kv, "=")
						if i == 0 {
							fmt.Fprintf(w, "  %s\n", v)
						} else {
							fmt.Fprintf(w, "   %s%s: %s\n", strings.ToUpper(k[:1]), k[1:], v)
						}
					}
				}
			}
			fmt.Fprintf(w, "Kernel Version: %s\nOperating System: %s\nArchitecture: %s\nCPUs: %d\nTotal Memory: %s\nState Root: %s\n",
				info.KernelVersion, info.OperatingSystem, info.Architecture, info.CPUs, humanSize(info.MemTotal), info.StateRoot)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// shortID shortens "sha256:abcdef..." to docker's 12 hex digits.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// splitTag splits "repo:tag" at the tag's colon, not a registry port's.
func splitTag(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "<none>"
	}
	return ref[:i], ref[i+1:]
}

// humanSize prints a byte count as docker does (decimal units).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

// ago prints how long ago t was, as docker does ("5 minutes ago").
func ago(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "Less than a minute ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	case d < 14*24*time.Hour:
		return plural(int(d.Hours()/24), "day") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d.Hours()/24/7), "week") + " ago"
	case d < 2*365*24*time.Hour:
		return plural(int(d.Hours()/24/30), "month") + " ago"
	}
	return plural(int(d.Hours()/24/365), "year") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func boolParam(b bool) string {
	if b {
		return "true"
	}
	return ""
}
