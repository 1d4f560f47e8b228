package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// globalOptions are the flags every project command shares, as docker
// compose names them.
type globalOptions struct {
	files      []string
	project    string
	projectDir string
	envFiles   []string
	profiles   []string
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
	p, err := spec.Load(spec.LoadOptions{
		Files:       g.files,
		WorkingDir:  g.projectDir,
		ProjectName: g.project,
		EnvFiles:    g.envFiles,
		Environ:     os.Environ(),
		Stdin:       g.stdin,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(g.stderr, "warning: %s\n", w)
	}
	return p, nil
}

// activeProfiles returns --profile values, or COMPOSE_PROFILES.
func (g *globalOptions) activeProfiles() []string {
	if len(g.profiles) > 0 {
		return g.profiles
	}
	if env := os.Getenv("COMPOSE_PROFILES"); env != "" {
		return strings.Split(env, ",")
	}
	return nil
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "stack",
		Short:         "Run multi-container development environments from a stack file",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	f := root.PersistentFlags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "stack file (repeatable; later files merge over earlier ones)")
	f.StringVarP(&g.project, "project-name", "p", "", "project name (default: name: in the file, else the directory name)")
	f.StringVar(&g.projectDir, "project-directory", "", "project directory (default: the first file's directory)")
	f.StringArrayVar(&g.envFiles, "env-file", nil, "file of variables for interpolation (default: .env in the project directory)")
	f.StringArrayVar(&g.profiles, "profile", nil, "profile to enable (repeatable)")
	f.StringVar(&g.stateRoot, "state-root", defaultStateRoot(), "directory of images, containers and volumes (env STACK_STATE_ROOT)")
	g.host = defaultHost()
	g.hosts = []string{g.host}
	f.VarP(&hostFlag{g: g}, "host", "H", "daemon socket: unix:///path or tcp://host:port (env STACK_HOST; repeatable for the daemon)")
	f.StringVar(&g.tls.caCert, "tlscacert", "", "CA certificate that the other side's certificate must be signed by (default: ca.pem in STACK_CERT_PATH or ~/.stack)")
	f.StringVar(&g.tls.cert, "tlscert", "", "TLS certificate (default: cert.pem in STACK_CERT_PATH or ~/.stack)")
	f.StringVar(&g.tls.key, "tlskey", "", "TLS key (default: key.pem in STACK_CERT_PATH or ~/.stack)")

	root.AddCommand(
		newConfigCommand(g),
		newConvertCommand(g),
		newKubeCommand(g),
		newVersionCommand(g),
	)
	root.AddCommand(engineCommands(g)...)
	return root
}

// usageError marks a mistake on the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	_, ok := err.(usageError)
	return ok || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "accepts ")
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
