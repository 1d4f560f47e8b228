package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// registryCommands are the top-level pull and push, as in docker compose.
func registryCommands(g *globalOptions) []*cobra.Command {
	return []*cobra.Command{newPullCommand(g), newPushCommand(g)}
}

// imageRegistryCommands are the image subcommands that move images in and
// out: save, bootstrap, and pull and push of plain image names.
func imageRegistryCommands(g *globalOptions) []*cobra.Command {
	pull := &cobra.Command{
		Use:   "pull IMAGE...",
		Short: "Pull images from their registries",
		Args:  cobra.MinimumNArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return g.pull(cmd.Context(), args) },
	}
	push := &cobra.Command{
		Use:   "push IMAGE",
		Short: "Push an image to the registry its name points at",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return g.push(cmd.Context(), args[0]) },
	}
	return []*cobra.Command{pull, push, newImageSaveCommand(g), newImageBootstrapCommand(g)}
}

// serviceImages returns the images of the named services of the stack
// file (all when names is empty), sorted, without duplicates; services
// that are built and name no image are left out.
func serviceImages(p *spec.Project, names []string) ([]string, error) {
	if len(names) == 0 {
		for n := range p.Services {
			names = append(names, n)
		}
	}
	set := map[string]bool{}
	for _, n := range names {
		svc, ok := p.Services[n]
		if !ok {
			return nil, argsError("no such service: %s", n)
		}
		if svc.Image != "" {
			set[svc.Image] = true
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

func newPullCommand(g *globalOptions) *cobra.Command {
	var quiet, ignoreFailures, includeDeps, ignoreBuildable bool
	var policy string
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			if policy != "" && policy != "missing" && policy != "always" {
				return usageError{fmt.Errorf("invalid --policy %q: want missing or always", policy)}
			}
			for _, name := range []string{"no-parallel", "parallel"} {
				if cmd.Flags().Changed(name) {
					fmt.Fprintf(g.stderr, "option '--%s' is DEPRECATED and will be ignored.\n", name)
				}
			}
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			if err := checkServices(p, args); err != nil {
				return err
			}
			names := args
			if includeDeps {
				if names, err = g.withDependencies(p, args); err != nil {
					return err
				}
			}
			if ignoreBuildable {
				names = slices.DeleteFunc(slices.Clone(orAll(p, names)), func(n string) bool { return p.Services[n].Build != nil })
				if len(names) == 0 {
					return nil
				}
			}
			refs, err := serviceImages(p, names)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			for _, ref := range refs {
				if policy == "missing" {
					var raw json.RawMessage
					if c.Do(cmd.Context(), "GET", "/images/inspect/"+api.EscapeRef(ref), nil, &raw) == nil {
						continue
					}
				}
				if err := g.pullWith(cmd.Context(), c, []string{ref}, quiet); err != nil {
					if !ignoreFailures {
						return err
					}
					fmt.Fprintf(g.stderr, "WARN[0000] pull %s: %v\n", ref, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "pull without printing progress information")
	f.BoolVar(&ignoreFailures, "ignore-pull-failures", false, "pull what it can and ignores images with pull failures")
	f.BoolVar(&includeDeps, "include-deps", false, "also pull services declared as dependencies")
	f.BoolVar(&ignoreBuildable, "ignore-buildable", false, "ignore images that can be built")
	f.StringVar(&policy, "policy", "", `apply pull policy ("missing"|"always")`)
	for _, name := range []string{"parallel", "no-parallel"} {
		f.Bool(name, true, "DEPRECATED: pull multiple images in parallel")
		f.MarkHidden(name)
	}
	return cmd
}

// orAll is names, or every service of p when it is empty.
func orAll(p *spec.Project, names []string) []string {
	if len(names) > 0 {
		return names
	}
	return p.ServiceNames()
}

func newPushCommand(g *globalOptions) *cobra.Command {
	var quiet, ignoreFailures, includeDeps bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] [SERVICE...]",
		Short: "Push service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			var refs []string
			p, err := g.loadProject()
			switch {
			case err == nil:
				names := args
				if includeDeps {
					if names, err = g.withDependencies(p, args); err != nil {
						return err
					}
				}
				for _, n := range orAll(p, names) {
					if svc, ok := p.Services[n]; ok {
						refs = append(refs, serviceImageRef(p, svc))
					} else {
						refs = append(refs, n) // an image's name, as stack push always took
					}
				}
			case errors.Is(err, errdefs.ErrNotFound) && len(args) > 0:
				refs = args
			default:
				return err
			}
			for _, ref := range refs {
				if err := g.pushWith(cmd.Context(), ref, quiet); err != nil {
					if !ignoreFailures {
						return err
					}
					fmt.Fprintf(g.stderr, "WARN[0000] push %s: %v\n", ref, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "push without printing progress information")
	f.BoolVar(&ignoreFailures, "ignore-push-failures", false, "push what it can and ignores images with push failures")
	f.BoolVar(&includeDeps, "include-deps", false, "also push images of services declared as dependencies")
	return cmd
}

func (g *globalOptions) pull(ctx context.Context, refs []string) error {
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	return g.pullWith(ctx, c, refs, false)
}

// pullWith pulls refs, printing the layers' progress on stderr unless
// quiet.
func (g *globalOptions) pullWith(ctx context.Context, c *api.Client, refs []string, quiet bool) error {
	w := g.stderr
	if quiet {
		w = io.Discard
	}
	return imageStream(ctx, c, "/images/pull", api.PullRequest{Refs: refs}, newProgressPrinter(w, "Downloading", "Pull complete"))
}

func (g *globalOptions) push(ctx context.Context, ref string) error {
	return g.pushWith(ctx, ref, false)
}

// pushWith pushes ref, printing the layers' progress on stderr unless
// quiet.
func (g *globalOptions) pushWith(ctx context.Context, ref string, quiet bool) error {
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	w := g.stderr
	if quiet {
		w = io.Discard
	}
	return imageStream(ctx, c, "/images/push", api.PushRequest{Ref: ref}, newProgressPrinter(w, "Pushing", "Pushed"))
}

// imageStream sends an image operation and hands each progress line to
// print; the operation's error, if any, comes as the last line.
func imageStream(ctx context.Context, c *api.Client, path string, req any, print func(api.ImageProgress)) error {
	var failure error
	err := c.Stream(ctx, "POST", path, req, func(raw json.RawMessage) error {
		var p api.ImageProgress
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		if err := p.Err(); err != nil {
			failure = err
			return nil
		}
		print(p)
		return nil
	})
	if err != nil {
		return err
	}
	return failure
}

// newProgressPrinter prints layer progress the way docker pull does: a
// line per layer when it starts and when it is done, and on a terminal a
// line of bytes moved, rewritten in place.
func newProgressPrinter(w io.Writer, moving, done string) func(api.ImageProgress) {
	tty := isTerminal(w)
	started := map[string]bool{}
	return func(p api.ImageProgress) {
		short := shortID(p.Layer)
		switch {
		case p.Image != nil:
			fmt.Fprintf(w, "%s: %s\n", strings.Join(p.Image.RepoTags, ", "), p.Digest)
		case p.Message != "":
			fmt.Fprintln(w, p.Message)
		case p.Layer == "" && p.Digest != "":
			fmt.Fprintf(w, "%s: digest: %s\n", p.Ref, p.Digest)
		case p.Status == "exists":
			fmt.Fprintf(w, "%s: Already exists\n", short)
		case p.Status == "done":
			if tty {
				fmt.Fprint(w, "\r\033[K")
			}
			fmt.Fprintf(w, "%s: %s (%s)\n", short, done, humanSize(p.Total))
		case p.Status == "transferring" && tty:
			fmt.Fprintf(w, "\r\033[K%s: %s %s/%s", short, moving, humanSize(p.Current), humanSize(p.Total))
		case p.Status == "transferring" && !started[p.Layer]:
			started[p.Layer] = true
			fmt.Fprintf(w, "%s: %s %s\n", short, moving, humanSize(p.Total))
		}
	}
}

func newImageSaveCommand(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save IMAGE... -o FILE",
		Short: "Write images to a docker-save archive (docker load and podman load read it)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			q := "?" + url.Values{"ref": args}.Encode()
			if output == "" || output == "-" {
				if isTerminal(g.stdout) {
					return argsError("refusing to write an archive to a terminal: use -o FILE")
				}
				return c.Download(ctx, "/images/save"+q, g.stdout)
			}
			// Written aside and renamed: a failed save leaves no archive
			// that looks complete.
			tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".tmp*")
			if err != nil {
				return fmt.Errorf("save: %w", err)
			}
			defer os.Remove(tmp.Name())
			if err := c.Download(ctx, "/images/save"+q, tmp); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return fmt.Errorf("save: %w", err)
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return fmt.Errorf("save: %w", err)
			}
			return os.Rename(tmp.Name(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}

func newImageBootstrapCommand(g *globalOptions) *cobra.Command {
	var refresh bool
	cmd := &cobra.Command{
		Use:   "bootstrap busybox|debian:SUITE",
		Short: "Make a base image from this machine's busybox or Debian's packages, without a registry",
		Long: `Bootstrap makes a base image locally, for machines that reach no registry.

  busybox         the host's static busybox (apt-get install busybox-static),
                  with its applets, root and nobody, /tmp and /var/www/index.html
  debian:SUITE    a minbase Debian (e.g. debian:bookworm) built with mmdebstrap
                  (apt-get install mmdebstrap) from the host's apt mirror; the
                  root filesystem is cached, so a second bootstrap is quick`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			return imageStream(cmd.Context(), c, "/images/bootstrap", api.BootstrapRequest{Ref: args[0], Refresh: refresh},
				newProgressPrinter(g.stdout, "", ""))
		},
	}
	cmd.Flags().BoolVar(&refresh, "refresh", false, "rebuild the cached root filesystem")
	return cmd
}
