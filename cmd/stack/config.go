package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

type configOptions struct {
	format   string
	quiet    bool
	services bool
	volumes  bool
	networks bool
	profiles bool
	images   bool
}

func newConfigCommand(g *globalOptions) *cobra.Command {
	var o configOptions
	cmd := &cobra.Command{
		Use:   "config [SERVICE...]",
		Short: "Validate the stack file and print it in canonical form",
		Long: `Config loads the stack file(s), interpolates variables, merges them and prints
the result with every short syntax in its long form, in the shape
'docker compose config' prints. With -q it only validates.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "yaml", "output format: yaml or json")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only validate; print nothing")
	f.BoolVar(&o.services, "services", false, "print the service names, one per line")
	f.BoolVar(&o.volumes, "volumes", false, "print the volume names, one per line")
	f.BoolVar(&o.networks, "networks", false, "print the network names, one per line")
	f.BoolVar(&o.profiles, "profiles", false, "print the profile names, one per line")
	f.BoolVar(&o.images, "images", false, "print the image names, one per line")
	return cmd
}

func runConfig(g *globalOptions, o configOptions, args []string) error {
	if o.format != "yaml" && o.format != "json" {
		return argsError("--format %q: want yaml or json", o.format)
	}
	p, err := g.loadProject()
	if err != nil {
		return err
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
			fmt.Fprintln(g.stdout, name)
		}
		return nil
	}
	p, err = selectServices(p, g.activeProfiles(), args)
	if err != nil {
		return err
	}
	if o.quiet {
		return nil
	}
	w := g.stdout
	switch {
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
