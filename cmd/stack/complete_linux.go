package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
)

// wireCompletions gives the commands whose arguments are services or
// images their completion, and --index its replica numbers, wherever
// they were not given one where the command is made.
func (g *globalOptions) wireCompletions(root *cobra.Command) {
	services := map[string]bool{"top": true, "stats": true, "pull": true}
	service := map[string]bool{"port": true, "commit": true, "push": true}
	images := map[string]bool{"rm": true, "history": true, "inspect": true, "save": true, "push": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			name := sub.Name()
			if sub.ValidArgsFunction == nil {
				switch {
				case c.Name() == "image" && images[name]:
					sub.ValidArgsFunction = g.completeImages
				case c == root && services[name]:
					sub.ValidArgsFunction = g.completeServices
				case c == root && service[name]:
					sub.ValidArgsFunction = g.completeService
				}
			}
			if sub.Flags().Lookup("index") != nil {
				if _, ok := sub.GetFlagCompletionFunc("index"); !ok {
					g.registerIndexCompletion(sub)
				}
			}
			walk(sub)
		}
	}
	walk(root)
}

// completeImages completes the names of the engine's images. It never
// starts a daemon: with none running it completes nothing.
func (g *globalOptions) completeImages(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	c, err := g.newClient()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := completionContext()
	defer cancel()
	var images []api.ImageSummary
	if err := c.Do(ctx, "GET", "/images", nil, &images); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, img := range images {
		for _, t := range img.RepoTags {
			if strings.HasPrefix(t, toComplete) && !containsString(args, t) {
				out = append(out, t)
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completionContext bounds what completion asks the engine: a shell
// waits for it.
func completionContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Second)
}
