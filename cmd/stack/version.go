package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are stamped at link time by the Makefile:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=0123abcd"
//
// A build without them reports what the Go toolchain recorded: the
// module's version and the VCS revision.
var (
	version = ""
	commit  = ""
)

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// commitString is the commit the binary was built from, "+dirty" when
// the tree had changes, or "unknown".
func commitString() string {
	if commit != "" {
		return commit
	}
	rev, dirty := "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

// versionRow is `version --format`'s: json prints compose's
// {"version": ...} with the commit beside it.
type versionRow struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	Os        string `json:"os"`
	Arch      string `json:"arch"`
}

var versionColumns = columns{
	defaultTable: `table {{.Version}}\t{{.Commit}}`,
	headers:      map[string]string{"Version": "VERSION", "Commit": "COMMIT", "GoVersion": "GO", "Os": "OS", "Arch": "ARCH"},
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	var short bool
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the stack version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if short {
				fmt.Fprintln(g.stdout, versionString())
				return nil
			}
			row := versionRow{Version: versionString(), Commit: commitString(), GoVersion: goruntime.Version(), Os: goruntime.GOOS, Arch: goruntime.GOARCH}
			if format != "" && format != "pretty" {
				f, err := parseFormat(format)
				if err != nil {
					return err
				}
				if f.json {
					return encodeJSONLine(g.stdout, row)
				}
				return f.write(g.stdout, versionColumns, []any{row})
			}
			fmt.Fprintf(g.stdout, "stack version %s (commit %s)\n go: %s\n os/arch: %s/%s\n", row.Version, row.Commit, row.GoVersion, row.Os, row.Arch)
			printServerVersion(cmd.Context(), g)
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "shows only the version number")
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output. Values: [pretty | json | TEMPLATE]. (Default: pretty)")
	return cmd
}

// daemonBuildEnv carries the build of the stack that started stack-daemon.
const daemonBuildEnv = "STACK_DAEMON_STARTED_BY"

// buildID names a build: version and commit.
func buildID() string { return versionString() + " " + commitString() }
