package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/spec"
)

func newBuildCommand(g *globalOptions) *cobra.Command {
	var o struct {
		noCache bool
		args    []string
		quiet   bool
		pull    bool
	}
	cmd := &cobra.Command{
		Use:   "build [SERVICE...]",
		Short: "Build the images of services that have build:",
		Long: `Build builds the image of each named service (all of them by default) that
has a build: section, from its Dockerfile and context, and tags it as
compose does: the service's image:, or <project>-<service>. Steps whose
inputs did not change come from the build cache.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			buildArgs := map[string]*string{}
			for _, a := range o.args {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					buildArgs[k] = nil
					continue
				}
				buildArgs[k] = &v
			}
			names := args
			if len(names) == 0 {
				for name, svc := range p.Services {
					if svc.Build != nil {
						names = append(names, name)
					}
				}
				slices.Sort(names)
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			for _, name := range names {
				svc := p.Services[name]
				if svc == nil {
					return argsError("no such service: %s", name)
				}
				if svc.Build == nil {
					fmt.Fprintf(g.stderr, " %s uses an image, skipping\n", name)
					continue
				}
				req := serviceBuildRequest(p, svc, o.noCache, buildArgs)
				if req.Pull = svc.BuildPull(); o.pull {
					req.Pull = "always"
				}
				fmt.Fprintf(g.stdout, "[+] Building %s (%s)\n", name, req.Tags[0])
				out := g.stdout
				if o.quiet {
					out = io.Discard
				}
				if _, err := runBuild(ctx, c, req, out); err != nil {
					return fmt.Errorf("service %q: %w", name, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noCache, "no-cache", false, "do not use the build cache")
	f.StringArrayVar(&o.args, "build-arg", nil, "set a build arg: KEY=VALUE, or KEY to take it from the environment (repeatable)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
	f.BoolVar(&o.pull, "pull", false, "always attempt to pull a newer version of the image")
	return cmd
}

// serviceBuildRequest is the build of a service's image, tagged as
// compose tags it.
func serviceBuildRequest(p *spec.Project, svc *spec.Service, noCache bool, extra map[string]*string) api.BuildRequest {
	b := svc.Build
	tag := svc.Image
	if tag == "" {
		tag = p.Name + "-" + svc.Name
	}
	args := map[string]*string{}
	for k, v := range b.Args {
		args[k] = v
	}
	for k, v := range extra {
		args[k] = v
	}
	env := map[string]string{}
	for k, v := range args {
		if v == nil {
			if e, ok := os.LookupEnv(k); ok {
				env[k] = e
			}
		}
	}
	return api.BuildRequest{
		Context: b.Context, Dockerfile: b.Dockerfile, DockerfileInline: b.DockerfileInline,
		Args: args, Env: env, Target: b.Target, Tags: append([]string{tag}, b.Tags...), Labels: b.Labels,
		NoCache: noCache || b.NoCache,
	}
}

// runBuild sends a build and prints its steps as they run, buildkit
// style: "#3 [2/7] RUN make", its output, then "#3 DONE 1.2s" or
// "#3 CACHED".
func runBuild(ctx context.Context, c *api.Client, req api.BuildRequest, w io.Writer) (api.BuildEvent, error) {
	var last api.BuildEvent
	err := c.Stream(ctx, "POST", "/build", req, func(raw json.RawMessage) error {
		var ev api.BuildEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		switch ev.Kind {
		case "start":
			fmt.Fprintf(w, "#%d [%s %d/%d] %s\n", ev.Step, ev.Stage, ev.Step, ev.Total, ev.Instruction)
		case "output":
			fmt.Fprintf(w, "#%d %s\n", ev.Step, ev.Output)
		case "done":
			if ev.Cached {
				fmt.Fprintf(w, "#%d CACHED\n", ev.Step)
			} else {
				fmt.Fprintf(w, "#%d DONE %.1fs\n", ev.Step, ev.Duration.Seconds())
			}
		default:
			last = ev
		}
		return nil
	})
	if err != nil {
		return last, err
	}
	if err := last.Err(); err != nil {
		return last, err
	}
	if last.Image == nil {
		return last, fmt.Errorf("build: the daemon ended the stream without a result")
	}
	fmt.Fprintf(w, "Built %s %s (%d of %d layer steps cached)\n", strings.Join(last.Image.RepoTags, ", "), shortImageID(last.Image.ID), last.CachedSteps, last.Steps)
	return last, nil
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
