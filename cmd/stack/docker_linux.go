package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
)

// listenDocker listens where the daemon serves the Docker Engine API:
// host, or when it is not given, api.DefaultDockerHost for a daemon on
// the default socket (another one, a test's or a second engine's, has
// none unless asked). A default socket that cannot be had (another
// daemon holds it) costs a warning; an explicit one is an error. nil:
// no Docker API.
func (g *globalOptions) listenDocker(host string, explicit bool) (net.Listener, error) {
	switch {
	case host == "none":
		return nil, nil
	case host == "" && (g.host != api.DefaultHost || len(g.hosts) > 1):
		return nil, nil
	case host == "":
		host = api.DefaultDockerHost
	}
	l, err := daemon.Listen(host, daemon.TLSFiles{})
	if err == nil && l.Addr().Network() != "unix" {
		l.Close()
		err = fmt.Errorf("--docker-host %s: want unix:///PATH: %w", host, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		if explicit {
			return nil, fmt.Errorf("docker host: %w", err)
		}
		fmt.Fprintf(g.stderr, "stack: warning: no Docker Engine API: %v\n", err)
		return nil, nil
	}
	return l, nil
}

// dockerHostOf is the DOCKER_HOST value of a Docker API listener.
func dockerHostOf(l net.Listener) string { return "unix://" + l.Addr().String() }

// newDockerHostCommand prints how docker's tools reach stack: the line
// to eval, and the docker context for those who keep dockerd too.
func newDockerHostCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "docker-host",
		Short: "Print how to point the docker CLI, docker-compose, Testcontainers and IDEs at stack (eval \"$(stack docker-host)\")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := g.engineInfo(cmd.Context())
			if err != nil {
				return err
			}
			if info.DockerHost == "" {
				return errors.New("this daemon serves no Docker Engine API: start it with stack daemon --docker-host unix:///PATH")
			}
			h := info.DockerHost
			fmt.Fprintf(g.stdout, "export DOCKER_HOST=%s\n", h)
			fmt.Fprintf(g.stdout, "# The docker CLI, docker-compose, Testcontainers and IDEs read DOCKER_HOST.\n")
			fmt.Fprintf(g.stdout, "# To keep dockerd as well, use a docker context instead:\n")
			fmt.Fprintf(g.stdout, "#   docker context create stack --docker host=%s && docker context use stack\n", h)
			fmt.Fprintf(g.stdout, "# IDEs (VS Code Docker/Dev Containers, PhpStorm): set the Docker socket or host to %s\n", h)
			return nil
		},
	}
}
