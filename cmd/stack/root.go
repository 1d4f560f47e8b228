package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// globalOptions are the flags of the root command, as docker compose
// names them. They are the root's own flags, not persistent ones, and the
// root stops parsing at the first argument that is not a flag: they go
// before the subcommand (`stack -f a.yaml -p demo up`), so that a
// subcommand's shorthands are its own (`run -p 8080:80`, `logs -f`),
// exactly as with compose.
type globalOptions struct {
	files      []string
	project    string
	projectDir string
	workdir    string // --workdir: compose's deprecated --project-directory
	envFiles   []string
	profiles   []string
	progress   string // --progress: auto, tty, plain, json, quiet
	ansi       string // --ansi: auto, never, always
	parallel   int    // --parallel: at most this many builds at once; -1 unlimited
	dryRun     bool
	stateRoot  string
	host       string   // the daemon the client talks to: the last -H
	hosts      []string // every -H: the daemon listens on each
	tls        tlsOptions

	stdin          io.Reader
	stdout, stderr io.Writer
}

// loadProject loads the stack the global flags name and prints its
// warnings.
func (g *globalOptions) loadProject() (*spec.Project, error) {
	return g.loadProjectWith(false)
}

// loadProjectWith loads the stack; noInterpolate leaves ${VAR} alone, as
// config --no-interpolate.
func (g *globalOptions) loadProjectWith(noInterpolate bool) (*spec.Project, error) {
	p, err := spec.Load(g.loadOptions(noInterpolate))
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(g.stderr, "WARN[0000] %s\n", w)
	}
	return p, nil
}

// activeProfiles returns --profile values, or COMPOSE_PROFILES.
func (g *globalOptions) activeProfiles() []string {
	return spec.ActiveProfiles(g.profiles, os.Getenv("COMPOSE_PROFILES"))
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "stack",
		Short: "Run multi-container development environments from a stack file",
		Long: `Run multi-container development environments from a Compose-compatible stack
file, on stack's own container engine. The commands and flags are docker
compose's; the options of the stack file go before the command.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		TraverseChildren:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return g.resolve(cmd) },
		// Without a RunE cobra answers an unknown command with the
		// root's help and exit 0; compose's root has one for the same
		// reason.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownCommand(cmd, args[0])
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\n\nSee '%s --help'.", err, c.CommandPath())}
	})
	f := root.Flags()
	f.SetInterspersed(false)
	g.addProjectFlags(f)
	f.StringVar(&g.ansi, "ansi", "auto", `control when to print ANSI control characters ("never"|"always"|"auto")`)
	f.IntVar(&g.parallel, "parallel", -1, "control max parallelism, -1 for unlimited")
	root.PersistentFlags().BoolVar(&g.dryRun, "dry-run", false, "execute command in dry run mode")
	var noAnsi, verbose bool
	f.BoolVar(&noAnsi, "no-ansi", false, "do not print ANSI control characters (DEPRECATED)")
	f.BoolVar(&verbose, "verbose", false, "show more output")
	f.MarkHidden("no-ansi")
	f.MarkHidden("verbose")
	g.addEngineFlags(f)
	registerRootCompletions(root, g)

	addCommands(root, g)
	return root
}

// addProjectFlags adds compose's project flags.
func (g *globalOptions) addProjectFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&g.profiles, "profile", nil, "specify a profile to enable")
	f.StringVarP(&g.project, "project-name", "p", "", "project name")
	f.StringArrayVarP(&g.files, "file", "f", nil, "stack (compose) configuration files")
	f.StringArrayVar(&g.envFiles, "env-file", nil, "specify an alternate environment file")
	f.StringVar(&g.projectDir, "project-directory", "", "specify an alternate working directory\n(default: the path of the, first specified, stack file)")
	f.StringVar(&g.workdir, "workdir", "", "DEPRECATED! USE --project-directory INSTEAD")
	f.MarkHidden("workdir")
	var compatibility, allResources bool
	f.BoolVar(&compatibility, "compatibility", false, "run compose in backward compatibility mode (no effect: container names use '-')")
	f.StringVar(&g.progress, "progress", os.Getenv("COMPOSE_PROGRESS"), "set type of progress output (auto, tty, plain, json, quiet)")
	f.BoolVar(&allResources, "all-resources", false, "include all resources, even those not used by services")
}

// addEngineFlags adds the flags that say which engine to talk to, as the
// docker CLI names them: they are stack's, not compose's.
func (g *globalOptions) addEngineFlags(f *pflag.FlagSet) {
	f.StringVar(&g.stateRoot, "state-root", defaultStateRoot(), "directory of images, containers and volumes (env STACK_STATE_ROOT)")
	g.host = defaultHost()
	g.hosts = []string{g.host}
	f.VarP(&hostFlag{g: g}, "host", "H", "daemon socket: unix:///path or tcp://host:port (env STACK_HOST; repeatable for the daemon)")
	f.StringVar(&g.tls.caCert, "tlscacert", "", "CA certificate that the other side's certificate must be signed by (default: ca.pem in STACK_CERT_PATH or ~/.stack)")
	f.StringVar(&g.tls.cert, "tlscert", "", "TLS certificate (default: cert.pem in STACK_CERT_PATH or ~/.stack)")
	f.StringVar(&g.tls.key, "tlskey", "", "TLS key (default: key.pem in STACK_CERT_PATH or ~/.stack)")
}

// resolve checks and settles the global flags once they are parsed, as
// compose's PersistentPreRunE does: --workdir, --ansi with COMPOSE_ANSI
// and NO_COLOR, --progress, --parallel with COMPOSE_PARALLEL_LIMIT.
func (g *globalOptions) resolve(cmd *cobra.Command) error {
	root := cmd.Root()
	if g.workdir != "" {
		if g.projectDir != "" {
			return usageError{errors.New(`cannot specify DEPRECATED "--workdir" and "--project-directory". Please use only "--project-directory" instead`)}
		}
		g.projectDir = g.workdir
		fmt.Fprintln(g.stderr, "option '--workdir' is DEPRECATED at root level! Please use '--project-directory' instead.")
	}
	if noAnsi, _ := root.Flags().GetBool("no-ansi"); noAnsi {
		if g.ansi != "auto" {
			return usageError{errors.New(`cannot specify DEPRECATED "--no-ansi" and "--ansi". Please use only "--ansi"`)}
		}
		g.ansi = "never"
	}
	if v, ok := os.LookupEnv("COMPOSE_ANSI"); ok && !root.Flags().Changed("ansi") {
		g.ansi = v
	}
	switch g.ansi {
	case "auto", "never", "always":
	default:
		return usageError{fmt.Errorf("--ansi %q: want never, always or auto", g.ansi)}
	}
	if v := os.Getenv("NO_COLOR"); v != "" && g.ansi == "auto" {
		g.ansi = "never"
	}
	if v, ok := os.LookupEnv("COMPOSE_PARALLEL_LIMIT"); ok && !root.Flags().Changed("parallel") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return usageError{fmt.Errorf("COMPOSE_PARALLEL_LIMIT must be an integer (found: %q)", v)}
		}
		g.parallel = n
	}
	switch g.progress {
	case "", "auto", "tty", "plain", "json", "quiet", "none":
	default:
		return usageError{fmt.Errorf("unsupported --progress value %q", g.progress)}
	}
	if g.progress == "tty" && g.ansi == "never" {
		return usageError{errors.New("can't use --progress tty while ANSI support is disabled")}
	}
	if g.progress == "plain" && g.ansi == "always" {
		return usageError{errors.New("can't use --progress plain while ANSI support is forced")}
	}
	if g.dryRun {
		return fmt.Errorf("--dry-run: %w: stack has no dry-run mode yet", errdefs.ErrNotImplemented)
	}
	return nil
}

// color reports whether output to w may carry colours: --ansi always, or
// auto (NO_COLOR unset) and w a terminal.
func (g *globalOptions) color(w io.Writer) bool {
	switch g.ansi {
	case "always":
		return true
	case "never":
		return false
	}
	return isTerminal(w)
}

// unknownCommand is the usage error of a command that does not exist,
// with cobra's suggestions as its detail.
func unknownCommand(root *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, root.CommandPath())
	if s := root.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageError{fmt.Errorf("%s\n\nRun '%s --help' for usage.", msg, root.CommandPath())}
}

// usageError marks a mistake on the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "accepts ") ||
		strings.HasPrefix(err.Error(), "requires at least")
}

// argsError is returned for wrong positional arguments.
func argsError(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// newLogger returns the logger of a long-running command: text records on
// w, debug ones only when asked.
func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
