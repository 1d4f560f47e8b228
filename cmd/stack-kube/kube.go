package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/kube"
	"github.com/stack-dev/stack/kube/cluster"
)

// kubeOptions are the flags of the kube commands.
type kubeOptions struct {
	kubeconfig string
	context    string
	namespace  string
	waitImage  string
	timeout    time.Duration
}

func newKubeCommand(g *globalOptions) *cobra.Command {
	var o kubeOptions
	cmd := &cobra.Command{
		Use:   "kube",
		Short: "Run the stack on a Kubernetes cluster",
		Long: `The kube commands put the stack on a Kubernetes cluster: the objects that
'stack convert --to kubernetes' prints, applied with server-side apply (field
manager "stack"). They read the cluster from --kubeconfig, else $KUBECONFIG,
else ~/.kube/config, as kubectl does.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default: its current context)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace (default: x-kubernetes.namespace, else the project name)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for rollouts and deletions")
	cmd.AddCommand(newKubeApplyCommand(g, &o), newKubeDeleteCommand(g, &o), newKubeStatusCommand(g, &o))
	return cmd
}

// connect converts the stack (the services args select) and opens the
// cluster; the context ends on Ctrl-C.
func (o *kubeOptions) connect(g *globalOptions, args []string) (context.Context, context.CancelFunc, *kube.Manifests, *cluster.Client, error) {
	m, err := g.convertProject(args, o.namespace, o.waitImage)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	c, err := cluster.New(cluster.Config{Kubeconfig: o.kubeconfig, Context: o.context})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx, stop, m, c, nil
}

// printKubeEvent prints one step the way up prints its steps.
func (g *globalOptions) printKubeEvent(ev cluster.Event) {
	fmt.Fprintf(g.stdout, " %s %s  %s\n", ev.Kind, ev.Name, ev.Action)
}

func newKubeApplyCommand(g *globalOptions, o *kubeOptions) *cobra.Command {
	var noWait, noPrune bool
	cmd := &cobra.Command{
		Use:   "apply [SERVICE...]",
		Short: "Apply the stack to the cluster and wait for it to roll out",
		Long: `Apply converts the stack file, applies every object with server-side apply,
waits until every Deployment and StatefulSet has rolled out, and deletes the
objects of the project that the stack no longer has (claims excepted: kube
delete removes them). An unchanged object is left alone, so a second apply
rolls out only the services that changed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop, m, c, err := o.connect(g, args)
			if err != nil {
				return err
			}
			defer stop()
			return c.Apply(ctx, m, cluster.ApplyOptions{
				Wait:     !noWait,
				Timeout:  o.timeout,
				Prune:    !noPrune && len(args) == 0,
				Progress: g.printKubeEvent,
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noWait, "no-wait", false, "do not wait for the rollout")
	f.BoolVar(&noPrune, "no-prune", false, "keep objects of the project that the stack no longer has (SERVICE arguments imply it)")
	f.StringVar(&o.waitImage, "wait-image", kube.DefaultWaitImage, "image of the init containers that wait for healthy dependencies")
	return cmd
}

func newKubeDeleteCommand(g *globalOptions, o *kubeOptions) *cobra.Command {
	var keepVolumes bool
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete the stack's objects from the cluster",
		Long: `Delete removes every object of the project (label stack.dev/project),
PersistentVolumeClaims and so the data included unless --keep-volumes, then
the namespace if stack made it (not one that was there before the first
apply), and waits until they are gone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop, m, c, err := o.connect(g, nil)
			if err != nil {
				return err
			}
			defer stop()
			return c.Delete(ctx, m.Project, m.Namespace, cluster.DeleteOptions{KeepVolumes: keepVolumes, Timeout: o.timeout, Progress: g.printKubeEvent})
		},
	}
	cmd.Flags().BoolVar(&keepVolumes, "keep-volumes", false, "keep the PersistentVolumeClaims (and the namespace)")
	return cmd
}

func newKubeStatusCommand(g *globalOptions, o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the stack's objects on the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop, m, c, err := o.connect(g, nil)
			if err != nil {
				return err
			}
			defer stop()
			st, err := c.Status(ctx, m.Project, m.Namespace)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "KIND\tNAME\tSTATUS")
			for _, s := range st {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Kind, s.Name, s.Ready)
			}
			return tw.Flush()
		},
	}
}
