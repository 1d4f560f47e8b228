package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/daemon"
)

// engineCommands are the commands that need the engine, which only runs
// on Linux.
func engineCommands(g *globalOptions) []*cobra.Command {
	return []*cobra.Command{newImageCommand(g), newInfoCommand(g)}
}

// openDaemon opens the engine in-process on the state root.
func (g *globalOptions) openDaemon() (*daemon.Daemon, error) {
	return daemon.New(daemon.Config{StateRoot: g.stateRoot, Version: versionString()})
}

func defaultStateRoot() string {
	if r := os.Getenv("STACK_STATE_ROOT"); r != "" {
		return r
	}
	return daemon.DefaultStateRoot
}
