package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/internal/errdefs"
)

// unsupportedCommands are the docker compose commands stack does not
// have: each says so, and why, rather than being an unknown command
// (README: Compose commands).
func unsupportedCommands() []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range []struct{ name, short, why string }{
		{"publish", "Publish the project as an OCI artifact (not supported)", "it pushes the project as an OCI artifact for Docker's registries"},
		{"alpha", "Compose's experimental commands (not supported)", "compose's experiments (viz, generate) are not part of stack"},
		{"bridge", "Convert the project into another model (not supported)", "stack convert --to kubernetes converts the stack file"},
		{"export", "Export a service container's filesystem as a tar archive (not supported)", "make an image of the container with stack commit, then stack image save"},
	} {
		cmds = append(cmds, &cobra.Command{
			Use:                c.name,
			Short:              c.short,
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return fmt.Errorf("%s: %w: %s", c.name, errdefs.ErrNotImplemented, c.why)
			},
		})
	}
	return cmds
}
