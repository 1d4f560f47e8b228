package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/kube"
)

type convertOptions struct {
	to        string
	out       string
	namespace string
	waitImage string
}

func newConvertCommand(g *globalOptions) *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert --to kubernetes [-o DIR|-] [SERVICE...]",
		Short: "Convert the stack file into Kubernetes manifests",
		Long: `Convert prints the Kubernetes objects of the stack: a Deployment or StatefulSet,
Services, ConfigMaps, Secrets and PersistentVolumeClaims per service (profiles and
SERVICE arguments select the services, as for up). Keys that Kubernetes cannot
express are errors or warnings naming their file:line. With -o DIR it writes one
file per object; 'stack kube apply' applies the same objects without a file.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConvert(g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "kubernetes", "target format: kubernetes")
	f.StringVarP(&o.out, "output", "o", "-", "directory to write one file per object into, or - for standard output")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the objects (default: x-kubernetes.namespace, else the project name)")
	f.StringVar(&o.waitImage, "wait-image", kube.DefaultWaitImage, "image of the init containers that wait for healthy dependencies")
	return cmd
}

// convertProject loads and selects the stack, converts it and prints the
// conversion's warnings.
func (g *globalOptions) convertProject(args []string, namespace, waitImage string) (*kube.Manifests, error) {
	p, err := g.loadProject()
	if err != nil {
		return nil, err
	}
	p, err = selectServices(p, g.activeProfiles(), args)
	if err != nil {
		return nil, err
	}
	m, err := kube.Convert(p, kube.Options{Namespace: namespace, Environ: os.Environ(), WaitImage: waitImage})
	if err != nil {
		return nil, err
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(g.stderr, "warning: %s\n", w)
	}
	return m, nil
}

func runConvert(g *globalOptions, o convertOptions, args []string) error {
	if o.to != "kubernetes" && o.to != "k8s" {
		return argsError("--to %q: want kubernetes", o.to)
	}
	m, err := g.convertProject(args, o.namespace, o.waitImage)
	if err != nil {
		return err
	}
	if o.out == "-" {
		out, err := m.RenderYAML()
		if err != nil {
			return err
		}
		_, err = g.stdout.Write(out)
		return err
	}
	names, err := m.WriteDir(o.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "wrote %d manifests to %s\n", len(names), o.out)
	return nil
}
