package main

import (
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// Shell completion (stack completion bash|zsh|fish) comes from cobra; the
// values below make it complete what compose's does: services, profiles,
// replica indexes, images and project names.

// registerRootCompletions completes the root's flag values.
func registerRootCompletions(root *cobra.Command, g *globalOptions) {
	root.RegisterFlagCompletionFunc("profile", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return g.profileNames(), cobra.ShellCompDirectiveNoFileComp
	})
	root.RegisterFlagCompletionFunc("file", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	root.RegisterFlagCompletionFunc("project-directory", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	})
	root.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "tty", "plain", "json", "quiet"}, cobra.ShellCompDirectiveNoFileComp))
	root.RegisterFlagCompletionFunc("ansi", cobra.FixedCompletions([]string{"never", "always", "auto"}, cobra.ShellCompDirectiveNoFileComp))
	root.RegisterFlagCompletionFunc("project-name", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return g.projectNames(cmd), cobra.ShellCompDirectiveNoFileComp
	})
}

// completeServices completes service names of the stack file, leaving out
// those already on the command line.
func (g *globalOptions) completeServices(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	p, err := g.loadProject()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, name := range p.ServiceNames() {
		if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) {
			out = append(out, name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeService completes one service name as the first argument, then
// nothing (exec, run, port, attach: the rest is a command or a port).
func (g *globalOptions) completeService(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return g.completeServices(cmd, args, toComplete)
}

// profileNames are the profiles the stack file defines.
func (g *globalOptions) profileNames() []string {
	p, err := g.loadProject()
	if err != nil {
		return nil
	}
	set := map[string]bool{}
	for _, s := range p.Services {
		for _, prof := range s.Profiles {
			set[prof] = true
		}
	}
	return sortedNames(set)
}

// registerIndexCompletion completes --index with the replica numbers of
// the service named as the first argument.
func (g *globalOptions) registerIndexCompletion(cmd *cobra.Command) {
	cmd.RegisterFlagCompletionFunc("index", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return g.replicaIndexes(cmd, args[0]), cobra.ShellCompDirectiveNoFileComp
	})
}

// indexesOfScale are the replica numbers of a service with n replicas,
// when the engine cannot be asked.
func indexesOfScale(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}
