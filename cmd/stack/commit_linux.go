package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

func newCommitCommand(g *globalOptions) *cobra.Command {
	var req api.CommitRequest
	var pause bool
	var changes []string
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] SERVICE [REPOSITORY[:TAG]]",
		Short: "Make an image of a service container's changes",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(changes) > 0 {
				return fmt.Errorf("commit --change: %w: the image keeps the container's config", errdefs.ErrNotImplemented)
			}
			if cmd.Flags().Changed("pause") {
				req.NoPause = !pause
			}
			name, c, err := g.projectClient(cmd.Context())
			if err != nil {
				return err
			}
			req.Service = args[0]
			if len(args) == 2 {
				req.Ref = args[1]
			}
			var res api.CommitResult
			if err := c.Do(cmd.Context(), "POST", "/projects/"+name+"/commit", req, &res); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, res.ID)
			return nil
		},
	}
	cmd.Flags().StringVarP(&req.Comment, "message", "m", "", "commit message")
	cmd.Flags().StringVarP(&req.Author, "author", "a", "", `author (e.g. "Jane <jane@example.com>")`)
	cmd.Flags().IntVar(&req.Index, "index", 0, "replica of the service (default: the first)")
	cmd.Flags().BoolVarP(&pause, "pause", "p", true, "pause container during commit")
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "apply Dockerfile instruction to the created image (not supported)")
	cmd.Flags().BoolVar(&req.NoPause, "no-pause", false, "do not freeze the container while committing")
	cmd.Flags().MarkHidden("no-pause")
	return cmd
}
