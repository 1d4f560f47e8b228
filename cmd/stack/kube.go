package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/internal/errdefs"
)

// The Kubernetes commands, convert and kube, run stack-kube (see
// cmd/stack-kube) with the stack file's options stack was given: it links
// client-go, which the stack command and the daemon it runs are better
// without.
func newKubeCommands(g *globalOptions) []*cobra.Command {
	return []*cobra.Command{
		g.forwardToStackKube("convert", "Convert the stack file into Kubernetes manifests"),
		g.forwardToStackKube("kube", "Run the stack on a Kubernetes cluster (apply, delete, status)"),
	}
}

func (g *globalOptions) forwardToStackKube(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:                name,
		Short:              short,
		DisableFlagParsing: true, // stack-kube's, --help included
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runStackKube(name, args)
		},
	}
}

// runStackKube runs stack-kube's command name with args, stack's stdio,
// and its exit code.
func (g *globalOptions) runStackKube(name string, args []string) error {
	bin, err := stackKubeBinary()
	if err != nil {
		return err
	}
	var argv []string
	for _, f := range g.files {
		argv = append(argv, "--file", f)
	}
	if g.project != "" {
		argv = append(argv, "--project-name", g.project)
	}
	if g.projectDir != "" {
		argv = append(argv, "--project-directory", g.projectDir)
	}
	for _, f := range g.envFiles {
		argv = append(argv, "--env-file", f)
	}
	for _, p := range g.profiles {
		argv = append(argv, "--profile", p)
	}
	cmd := exec.Command(bin, append(append(argv, name), args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = g.stdin, g.stdout, g.stderr
	// Ctrl-C is stack-kube's to act on (it stops waiting for a rollout):
	// stack waits for it to end.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	defer signal.Reset(os.Interrupt, syscall.SIGTERM)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exitStatus(exit.ExitCode()) // it said why
	}
	return err
}

// stackKubeBinary finds stack-kube beside this binary, where make build
// puts it, or else in PATH.
func stackKubeBinary() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "stack-kube")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("stack-kube"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("convert and kube run stack-kube, which is neither beside stack nor in PATH: build it with make build (or go build -o DIR ./cmd/stack-kube, DIR being stack's directory): %w", errdefs.ErrNotFound)
}
