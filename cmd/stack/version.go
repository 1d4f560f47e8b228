package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); a build
// without it reports the module version or the VCS revision.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	var short bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the stack version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if short {
				fmt.Fprintln(g.stdout, versionString())
				return nil
			}
			fmt.Fprintf(g.stdout, "stack version %s\n go: %s\n os/arch: %s/%s\n", versionString(), goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
			printServerVersion(cmd.Context(), g)
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "print the version number only")
	return cmd
}
