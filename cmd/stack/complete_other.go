//go:build !linux

package main

import "github.com/spf13/cobra"

func (g *globalOptions) projectNames(cmd *cobra.Command) []string { return nil }

func (g *globalOptions) wireCompletions(root *cobra.Command) {}

// replicaIndexes falls back on the stack file's scale where there is no
// engine to ask.
func (g *globalOptions) replicaIndexes(cmd *cobra.Command, service string) []string {
	p, err := g.loadProject()
	if err != nil || p.Services[service] == nil {
		return nil
	}
	return indexesOfScale(p.Services[service].Replicas())
}
