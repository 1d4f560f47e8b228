//go:build !linux

package main

import "github.com/spf13/cobra"

// engineCommands is empty where the engine cannot run: only the stack-file
// commands are available.
func engineCommands(g *globalOptions) []*cobra.Command { return nil }

func defaultStateRoot() string { return "/var/lib/stack" }

func defaultHost() string { return "unix:///run/stack/stack.sock" }

func reexec() {}
