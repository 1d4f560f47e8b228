package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

type configOptions struct {
	format, output, hash                                 string
	quiet, services, volumes, networks, profiles, images bool
	noInterpolate, resolveDigests, variables, environ    bool
	unsupported                                          map[string]unsupportedFlag
}

func newConfigCommand(g *globalOptions) *cobra.Command {
	o := configOptions{unsupported: map[string]unsupportedFlag{}}
	cmd := &cobra.Command{
		Use:   "config [OPTIONS] [SERVICE...]",
		Short: "Parse, resolve and render the stack file in canonical format",
		Long: `Config loads the stack file(s), interpolates variables, merges them and prints
the result with every short syntax in its long form, in the shape
'docker compose config' prints. With -q it only validates.`,
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range sortedNames(o.unsupported) {
				if u := o.unsupported[name]; *u.set {
					return fmt.Errorf("config --%s: %w: %s", name, errdefs.ErrNotImplemented, u.why)
				}
			}
			return runConfig(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "format the output. Values: [yaml | json]")
	f.StringVarP(&o.output, "output", "o", "", "save to file (default to stdout)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only validate the configuration, don't print anything")
	f.BoolVar(&o.services, "services", false, "print the service names, one per line")
	f.BoolVar(&o.volumes, "volumes", false, "print the volume names, one per line")
	f.BoolVar(&o.networks, "networks", false, "print the network names, one per line")
	f.BoolVar(&o.profiles, "profiles", false, "print the profile names, one per line")
	f.BoolVar(&o.images, "images", false, "print the image names, one per line")
	f.StringVar(&o.hash, "hash", "", `print the service config hash, one per line ("*" for all)`)
	f.BoolVar(&o.noInterpolate, "no-interpolate", false, "don't interpolate environment variables")
	f.BoolVar(&o.resolveDigests, "resolve-image-digests", false, "pin image tags to digests")
	f.BoolVar(&o.variables, "variables", false, "print model variables and default values")
	f.BoolVar(&o.environ, "environment", false, "print environment used for interpolation")
	// The loader always resolves paths and env files, normalises and
	// checks the model: there is no rawer one to print.
	const loaderDoes = "stack's loader always resolves, normalises and checks the model"
	for name, u := range map[string]struct{ usage, why string }{
		"lock-image-digests": {"produces an override file with image digests", "not built: --resolve-image-digests prints the model with its images pinned to digests"},
		"models":             {"print the model names, one per line", "models: run on Docker Model Runner, part of Docker Desktop"},
		"no-consistency":     {"don't check model consistency", loaderDoes},
		"no-env-resolution":  {"don't resolve service env files", loaderDoes},
		"no-normalize":       {"don't normalize the stack model", loaderDoes},
		"no-path-resolution": {"don't resolve file paths", loaderDoes},
	} {
		o.unsupported[name] = unsupportedFlag{set: f.Bool(name, false, u.usage+" (not supported)"), why: u.why}
	}
	cmd.RegisterFlagCompletionFunc("hash", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names, d := g.completeServices(cmd, nil, toComplete)
		return append([]string{"*"}, names...), d
	})
	cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// unsupportedFlag is a compose flag stack takes and refuses, saying why.
type unsupportedFlag struct {
	set *bool
	why string
}

func runConfig(ctx context.Context, g *globalOptions, o configOptions, args []string) error {
	if o.format == "" {
		o.format = "yaml"
		if strings.HasSuffix(o.output, ".json") {
			o.format = "json"
		}
	}
	if o.format != "yaml" && o.format != "json" {
		return argsError("--format %q: want yaml or json", o.format)
	}
	w := g.stdout
	var buf bytes.Buffer
	if o.output != "" {
		w = &buf
	}
	if err := configOutput(ctx, g, o, args, w); err != nil {
		return err
	}
	if o.output != "" {
		if err := os.WriteFile(o.output, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	}
	return nil
}

func configOutput(ctx context.Context, g *globalOptions, o configOptions, args []string, w io.Writer) error {
	if o.environ {
		env, err := spec.Environment(g.loadOptions(false))
		if err != nil {
			return err
		}
		for _, k := range sortedNames(env) {
			fmt.Fprintf(w, "%s=%s\n", k, env[k])
		}
		return nil
	}
	if o.noInterpolate && !o.variables && !o.quiet && !o.services && !o.volumes && !o.networks && !o.profiles && !o.images && o.hash == "" {
		out, err := spec.RenderUninterpolated(g.loadOptions(true))
		if err != nil {
			return err
		}
		if o.format == "json" {
			return fmt.Errorf("config --no-interpolate --format json: %w: the document is printed as YAML", errdefs.ErrNotImplemented)
		}
		_, err = w.Write(out)
		return err
	}
	p, err := g.loadProjectWith(o.noInterpolate)
	if err != nil {
		return err
	}
	if o.variables {
		return writeVariables(w, p, o.format)
	}
	if o.profiles {
		// Every profile the file defines, enabled or not.
		set := map[string]bool{}
		for _, s := range p.Services {
			for _, prof := range s.Profiles {
				set[prof] = true
			}
		}
		for _, name := range sortedNames(set) {
			fmt.Fprintln(w, name)
		}
		return nil
	}
	if err := checkServices(p, args); err != nil {
		return err
	}
	p, err = selectServices(p, g.activeProfiles(), args)
	if err != nil {
		return err
	}
	if o.quiet {
		return nil
	}
	switch {
	case o.hash != "":
		names := p.ServiceNames()
		if o.hash != "*" {
			names = strings.Split(o.hash, ",")
			if err := checkServices(p, names); err != nil {
				return err
			}
		}
		for _, name := range names {
			fmt.Fprintf(w, "%s %s\n", name, planner.ConfigHash(p.Services[name]))
		}
	case o.services:
		for _, name := range p.ServiceNames() {
			fmt.Fprintln(w, name)
		}
	case o.volumes:
		for _, name := range sortedNames(p.Volumes) {
			fmt.Fprintln(w, name)
		}
	case o.networks:
		for _, name := range sortedNames(p.Networks) {
			fmt.Fprintln(w, name)
		}
	case o.images:
		for _, name := range p.ServiceNames() {
			s := p.Services[name]
			img := s.Image
			if img == "" {
				img = p.Name + "-" + name
			}
			fmt.Fprintln(w, img)
		}
	default:
		if o.resolveDigests {
			if err := g.resolveDigests(ctx, p); err != nil {
				return err
			}
		}
		render := spec.RenderYAML
		if o.format == "json" {
			render = spec.RenderJSON
		}
		out, err := render(p.Redacted())
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	return nil
}

// writeVariables prints the variables the stack files use, as compose's
// config --variables: a table, or with --format json an object keyed by
// name.
func writeVariables(w io.Writer, p *spec.Project, format string) error {
	found := map[string]spec.Variable{}
	for _, f := range p.Files {
		data, err := readStackFile(p, f)
		if err != nil {
			return err
		}
		vars, err := spec.FileVariables(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range vars {
			old, seen := found[v.Name]
			if seen {
				v.Required = v.Required || old.Required
				if v.Default == "" {
					v.Default = old.Default
				}
				if v.Alternate == "" {
					v.Alternate = old.Alternate
				}
			}
			found[v.Name] = v
		}
	}
	names := sortedNames(found)
	if format == "json" {
		out := map[string]map[string]any{}
		for _, n := range names {
			v := found[n]
			out[n] = map[string]any{"Name": v.Name, "DefaultValue": v.Default, "PresenceValue": v.Alternate, "Required": v.Required}
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREQUIRED\tDEFAULT VALUE\tALTERNATE VALUE")
	for _, n := range names {
		v := found[n]
		fmt.Fprintf(tw, "%s\t%t\t%s\t%s\n", v.Name, v.Required, v.Default, v.Alternate)
	}
	return tw.Flush()
}

// readStackFile reads one of the project's files, named as Load names
// them (relative to the working directory when shorter).
func readStackFile(p *spec.Project, name string) ([]byte, error) {
	if name == "-" {
		return nil, errors.New("config --variables: cannot read the stack file from stdin twice")
	}
	return os.ReadFile(name)
}

// loadOptions are the options of spec.Load that the global flags give.
func (g *globalOptions) loadOptions(noInterpolate bool) spec.LoadOptions {
	return spec.LoadOptions{
		Files: g.files, WorkingDir: g.projectDir, ProjectName: g.project, EnvFiles: g.envFiles,
		Environ: os.Environ(), Stdin: g.stdin, NoInterpolate: noInterpolate,
	}
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// selectServices keeps the services the profiles and SERVICE arguments
// enable, as docker compose config does.
func selectServices(p *spec.Project, profiles, args []string) (*spec.Project, error) {
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: profiles, Services: args})
	if err != nil {
		return nil, err
	}
	return planner.Restrict(p, sel), nil
}
