package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

// newAttachCommand attaches to a service container's output, as compose's
// attach: what it prints from now on, until it exits or Ctrl-C. With
// --sig-proxy (the default) Ctrl-C is passed on to the container as
// SIGINT. A service container's stdin is not kept open by the engine, so
// attach reads none, as with --no-stdin.
func newAttachCommand(g *globalOptions) *cobra.Command {
	var o struct {
		detachKeys      string
		index           int
		noStdin, noSigs bool
		sigProxy        bool
	}
	cmd := &cobra.Command{
		Use:               "attach [OPTIONS] SERVICE",
		Short:             "Attach local standard input, output, and error streams to a service's running container",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, c, err := g.serviceClient(cmd.Context(), args)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			cs, err := g.containers(ctx, c, name)
			if err != nil {
				return err
			}
			target := ""
			for _, ct := range cs {
				if ct.Service == args[0] && ct.State == "running" && (o.index == 0 || ct.Number == o.index) {
					target = ct.Name
					break
				}
			}
			if target == "" {
				return fmt.Errorf("service %s has no running container%s: %w", args[0], indexSuffix(o.index), errdefs.ErrFailedPrecondition)
			}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			go func() {
				for sig := range sigs {
					if !o.sigProxy {
						cancel()
						return
					}
					sigName := "SIGINT"
					if sig == syscall.SIGTERM {
						sigName = "SIGTERM"
					}
					req := api.StopRequest{Services: args, Signal: sigName}
					runEvents(context.WithoutCancel(ctx), c, "/projects/"+name+"/kill", req, quietProgress{}, nil)
				}
			}()
			lo := logOptions{services: args, tail: "0", follow: true, noPrefix: true, index: o.index}
			err = g.streamLogs(ctx, c, name, lo)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.detachKeys, "detach-keys", "", "override the key sequence for detaching from a container")
	cmd.Flags().IntVar(&o.index, "index", 0, "index of the container if service has multiple replicas")
	cmd.Flags().BoolVar(&o.noStdin, "no-stdin", false, "do not attach STDIN")
	cmd.Flags().BoolVar(&o.sigProxy, "sig-proxy", true, "proxy all received signals to the process")
	g.registerIndexCompletion(cmd)
	return cmd
}

func indexSuffix(i int) string {
	if i == 0 {
		return ""
	}
	return " number " + strconv.Itoa(i)
}
