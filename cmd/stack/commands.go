//go:build !stackdaemon || !linux

package main

import "github.com/spf13/cobra"

// addCommands gives the root every command. Built with -tags stackdaemon
// this package is stack-daemon instead, the daemon command alone
// (commands_daemon_linux.go).
func addCommands(root *cobra.Command, g *globalOptions) {
	root.AddCommand(
		newConfigCommand(g),
		newVersionCommand(g),
	)
	root.AddCommand(engineCommands(g)...)
	root.AddCommand(newKubeCommands(g)...)
	root.AddCommand(unsupportedCommands()...)
	g.wireCompletions(root)
}
