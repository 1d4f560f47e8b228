package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

func newBuildCommand(g *globalOptions) *cobra.Command {
	var o struct {
		noCache, quiet, push, withDeps, check, print, pull bool
		args, ssh                                          []string
		builder, memory, provenance, sbom                  string
	}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		Long: `Build builds the image of each named service (all of them by default) that
has a build: section, from its Dockerfile and context, and tags it as
compose does: the service's image:, or <project>-<service>. Steps whose
inputs did not change come from the build cache. Services build in
parallel, as many at once as there are CPUs (or --parallel).`,
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			for flag, set := range map[string]bool{"--check": o.check, "--print": o.print, "--builder": o.builder != "",
				"--memory": o.memory != "", "--provenance": o.provenance != "", "--sbom": o.sbom != "", "--ssh": len(o.ssh) > 0} {
				if set {
					return fmt.Errorf("build %s: %w: stack's builder is not BuildKit", flag, errdefs.ErrNotImplemented)
				}
			}
			ctx := cmd.Context()
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			if err := checkServices(p, args); err != nil {
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
			if o.withDeps {
				if names, err = g.withDependencies(p, args); err != nil {
					return err
				}
			}
			if len(names) == 0 {
				names = p.ServiceNames()
			}
			var builds []string
			for _, name := range names {
				if p.Services[name].Build != nil {
					builds = append(builds, name)
				}
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			pr := g.newProgress("Building")
			if o.quiet {
				pr = quietProgress{}
			}
			err = g.buildServices(ctx, c, p, builds, buildOptions{noCache: o.noCache, pull: o.pull, args: buildArgs}, pr)
			pr.Done()
			if err != nil || !o.push {
				return err
			}
			for _, name := range builds {
				if err := g.push(ctx, serviceImageRef(p, p.Services[name])); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noCache, "no-cache", false, "do not use cache when building the image")
	f.StringArrayVar(&o.args, "build-arg", nil, "set build-time variables for services")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "suppress the build output")
	f.BoolVar(&o.push, "push", false, "push service images")
	f.BoolVar(&o.withDeps, "with-dependencies", false, "also build dependencies (transitively)")
	f.BoolVar(&o.check, "check", false, "check build configuration (not supported: needs BuildKit)")
	f.BoolVar(&o.print, "print", false, "print equivalent bake file (not supported: needs BuildKit)")
	f.StringVar(&o.builder, "builder", "", "set builder to use (not supported: needs buildx)")
	f.StringVarP(&o.memory, "memory", "m", "", "set memory limit for the build container (not supported)")
	f.StringVar(&o.provenance, "provenance", "", "add a provenance attestation (not supported: needs BuildKit)")
	f.StringVar(&o.sbom, "sbom", "", "add a SBOM attestation (not supported: needs BuildKit)")
	f.StringArrayVar(&o.ssh, "ssh", nil, "set SSH authentications used when building service images (not supported)")
	f.BoolVar(&o.pull, "pull", false, "always attempt to pull a newer version of the image")
	// compose's deprecated flags, hidden as there, and with no effect
	// (builds run in parallel); --progress is the global one's.
	for _, name := range []string{"parallel", "compress", "force-rm", "no-rm"} {
		f.Bool(name, name != "no-rm", "DEPRECATED: no effect")
		f.MarkHidden(name)
	}
	f.StringVar(&g.progress, "progress", g.progress, "set type of ui output (auto, tty, plain, json, quiet)")
	f.MarkHidden("progress")
	return cmd
}

// withDependencies is names with the services they depend on,
// transitively (every service when names is empty).
func (g *globalOptions) withDependencies(p *spec.Project, names []string) ([]string, error) {
	if len(names) == 0 {
		return p.ServiceNames(), nil
	}
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: g.activeProfiles(), Services: names})
	if err != nil {
		return nil, err
	}
	return sel.Services(), nil
}

// serviceImageRef is the image a service runs: its image:, or the name
// compose gives a built one.
func serviceImageRef(p *spec.Project, svc *spec.Service) string {
	if svc.Image != "" {
		return svc.Image
	}
	return p.Name + "-" + svc.Name
}

// buildLimit is how many builds run at once: --parallel (compose's
// limit of parallelism) when given, else one per CPU.
func (g *globalOptions) buildLimit() int {
	if g.parallel > 0 {
		return g.parallel
	}
	return max(goruntime.NumCPU(), 1)
}

// buildOptions are the build command's flags that apply to every
// service's build.
type buildOptions struct {
	noCache bool
	// pull pulls the base images always (build --pull); otherwise each
	// service's build.pull and pull_policy decide.
	pull bool
	args map[string]*string // --build-arg
}

// buildServices builds the images of services in parallel, at most
// buildLimit at once, and fails with every build's error.
func (g *globalOptions) buildServices(ctx context.Context, c *api.Client, p *spec.Project, services []string, o buildOptions, pr progress) error {
	sem := make(chan struct{}, g.buildLimit())
	errs := make([]error, len(services))
	var wg sync.WaitGroup
	for i, name := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			svc := p.Services[name]
			req := serviceBuildRequest(p, svc, o.noCache, o.args)
			if req.Pull = svc.BuildPull(); o.pull {
				req.Pull = "always"
			}
			if _, err := runBuild(ctx, c, name, req, pr); err != nil {
				errs[i] = fmt.Errorf("build service %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// buildForUp builds, before up, the images of the selected services that
// have build: and either are missing or --build asks for: in parallel,
// where the daemon would build them one after another.
func (g *globalOptions) buildForUp(ctx context.Context, c *api.Client, p *spec.Project, args []string, noDeps, force, quiet bool, pr progress) error {
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: g.activeProfiles(), Services: args, NoDeps: noDeps})
	if err != nil {
		return err
	}
	var builds []string
	for _, name := range sel.Services() {
		svc := p.Services[name]
		if svc.Build == nil {
			continue
		}
		if !force {
			var raw json.RawMessage
			err := c.Do(ctx, "GET", "/images/inspect/"+api.EscapeRef(serviceImageRef(p, svc)), nil, &raw)
			if err == nil {
				continue
			}
			if !errors.Is(err, errdefs.ErrNotFound) {
				return err
			}
		}
		builds = append(builds, name)
	}
	if quiet {
		pr = quietOutput{pr}
	}
	return g.buildServices(ctx, c, p, builds, buildOptions{}, pr)
}

// quietOutput drops the build output of a progress (up --quiet-build).
type quietOutput struct{ progress }

func (quietOutput) Output(string, string) {}

// serviceBuildRequest is the build of a service's image, tagged as
// compose tags it.
func serviceBuildRequest(p *spec.Project, svc *spec.Service, noCache bool, extra map[string]*string) api.BuildRequest {
	b := svc.Build
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
		Args: args, Env: env, Target: b.Target, Tags: append([]string{serviceImageRef(p, svc)}, b.Tags...), Labels: b.Labels,
		NoCache: noCache || b.NoCache,
	}
}

// runBuild sends a service's build and reports it as the resource
// "Service NAME": Building, with each step and its output as they come
// ("#3 [php 2/7] RUN make"), then Built.
func runBuild(ctx context.Context, c *api.Client, service string, req api.BuildRequest, pr progress) (api.BuildEvent, error) {
	id := "Service " + service
	pr.Event(progressEvent{ID: id, Text: "Building", Status: statusWorking})
	var last api.BuildEvent
	err := c.Stream(ctx, "POST", "/build", req, func(raw json.RawMessage) error {
		var ev api.BuildEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		// "[php 2/7]", "[php builder 1/3]"; an unnamed stage of a
		// multi-stage build by its number, as BuildKit names it.
		stage := service
		switch {
		case ev.Stage == "" || ev.Stage == service:
		case strings.Trim(ev.Stage, "0123456789") == "":
			stage += " stage-" + ev.Stage
		default:
			stage += " " + ev.Stage
		}
		switch ev.Kind {
		case "start":
			pr.Output(id, fmt.Sprintf("#%d [%s %d/%d] %s", ev.Step, stage, ev.Step, ev.Total, ev.Instruction))
		case "output":
			pr.Output(id, fmt.Sprintf("#%d %s", ev.Step, ev.Output))
		case "done":
			if ev.Cached {
				pr.Output(id, fmt.Sprintf("#%d CACHED", ev.Step))
			} else {
				pr.Output(id, fmt.Sprintf("#%d DONE %.1fs", ev.Step, ev.Duration.Seconds()))
			}
		default:
			last = ev
		}
		return nil
	})
	if err == nil {
		err = last.Err()
	}
	if err == nil && last.Image == nil {
		err = errors.New("the daemon ended the build without a result")
	}
	if err != nil {
		pr.Event(progressEvent{ID: id, Text: "Error", Status: statusError})
		return last, err
	}
	pr.Event(progressEvent{ID: id, Text: "Built", Status: statusDone,
		Details: fmt.Sprintf("%s %s (%d of %d layer steps cached)", strings.Join(last.Image.RepoTags, ", "), shortImageID(last.Image.ID), last.CachedSteps, last.Steps)})
	return last, nil
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// goarch is the platform's architecture, as images name it.
func goarch() string { return goruntime.GOARCH }
