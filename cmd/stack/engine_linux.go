package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/dockerapi"
	"github.com/stack-dev/stack/internal/errdefs"
)

// engineCommands are the commands that need the engine, which only runs
// on Linux.
func engineCommands(g *globalOptions) []*cobra.Command {
	cmds := append(projectCommands(g), newImageCommand(g), newInfoCommand(g), newDaemonCommand(g), newBuildCommand(g), newDockerHostCommand(g))
	cmds = append(cmds, registryCommands(g)...)
	cmds = append(cmds, composeCommands(g)...)
	cmds = append(cmds, inspectCommands(g)...)
	return cmds
}

func reexec() { daemon.Reexec() }

func defaultStateRoot() string {
	if r := os.Getenv("STACK_STATE_ROOT"); r != "" {
		return r
	}
	return daemon.DefaultStateRoot
}

func defaultHost() string {
	if h := os.Getenv("STACK_HOST"); h != "" {
		return h
	}
	return api.DefaultHost
}

// daemonOptions are the daemon command's own flags.
type daemonOptions struct {
	debug      bool
	configFile string
	insecure   []string
	group      string
	remap      string // --userns-remap
	idRange    string // --userns-range
	dockerHost string
}

func (o *daemonOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.group, "group", "G", "stack", "group of the unix socket: its members may use the daemon (created when given and missing)")
	fs.BoolVar(&o.debug, "debug", false, "log debug records")
	fs.StringVar(&o.configFile, "config-file", daemon.DefaultConfigFile, "daemon configuration file (JSON, dockerd's keys: insecure-registries, log-opts, userns-remap; and userns-range)")
	fs.StringVar(&o.remap, "userns-remap", os.Getenv("STACK_USERNS_REMAP"), "user namespaces of containers: host (none, the default), default (a range of host uids each, from the stack entries of /etc/subuid and /etc/subgid), a user name (that user's entries) (env STACK_USERNS_REMAP)")
	fs.StringVar(&o.idRange, "userns-range", os.Getenv("STACK_USERNS_RANGE"), "host uids and gids START:COUNT that containers' ranges come from, instead of /etc/subuid and /etc/subgid (env STACK_USERNS_RANGE)")
	fs.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry (host[:port] or CIDR) that may be reached over plain HTTP or without a verified certificate (repeatable)")
	fs.StringVar(&o.dockerHost, "docker-host", "", "where to serve the Docker Engine API, unix:///PATH or \"none\" (default "+api.DefaultDockerHost+" for the default -H, else none); point DOCKER_HOST at it")
}

// config is the daemon's configuration: the flags', then the
// configuration file's (required when its flag was given).
func (o *daemonOptions) config(g *globalOptions, fileRequired bool) (daemon.Config, error) {
	fc, err := daemon.LoadConfigFile(o.configFile, fileRequired)
	if err != nil {
		return daemon.Config{}, err
	}
	shim, err := shimBinary(g.stderr)
	if err != nil {
		return daemon.Config{}, err
	}
	cfg := daemon.Config{
		StateRoot:          g.stateRoot,
		Version:            versionString(),
		Logger:             newLogger(g.stderr, o.debug),
		NetworkTable:       os.Getenv("STACK_NFT_TABLE"),
		CgroupParent:       os.Getenv("STACK_CGROUP_PARENT"),
		InsecureRegistries: o.insecure,
		ShimBinary:         shim,
		InitBinary:         besideStack("stack-init", "containers' inits run from the shim's binary, slower", g.stderr),
		BuildBinary:        buildBinary(g.stderr),
	}
	if err := fc.Apply(&cfg); err != nil {
		return daemon.Config{}, err
	}
	if err := daemon.ApplyUserNS(&cfg, o.remap, o.idRange); err != nil {
		return daemon.Config{}, err
	}
	return cfg, nil
}

func newDaemonCommand(g *globalOptions) *cobra.Command {
	o := &daemonOptions{}
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the stack daemon (the CLI starts it on demand)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Geteuid() != 0 {
				return errors.New("the stack daemon needs root: start it as root (sudo stack daemon, or the systemd unit); users of the \"stack\" group can then use it")
			}
			if err := useDaemonBinary(g.stderr); err != nil {
				return err
			}
			gid, err := socketGroup(o.group, cmd.Flags().Changed("group"))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			cfg, err := o.config(g, cmd.Flags().Changed("config-file"))
			if err != nil {
				return err
			}
			docker, err := g.listenDocker(o.dockerHost, cmd.Flags().Changed("docker-host"))
			if err != nil {
				return err
			}
			if docker != nil {
				defer docker.Close()
				cfg.DockerHost = dockerHostOf(docker)
			}
			d, err := daemon.New(cfg)
			if err != nil {
				return err
			}
			// Closed on every return: it holds the state root's lock, which
			// a failed start must not keep from the next daemon.
			defer d.Close()
			l, err := g.listen()
			if err != nil {
				return err
			}
			defer l.Close()
			if err := g.chownSockets(gid); err != nil {
				return err
			}
			if docker != nil && gid != 0 {
				// The Docker API's socket is for the same users as ours.
				if err := os.Chown(docker.Addr().String(), 0, gid); err != nil {
					return fmt.Errorf("chown socket %s: %w", docker.Addr(), err)
				}
			}
			pidFile := filepath.Join(g.stateRoot, "daemon.pid")
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
				return fmt.Errorf("write pid file: %w", err)
			}
			defer os.Remove(pidFile)
			fmt.Fprintf(g.stderr, "stack daemon %s listening on %s, state in %s\n", versionString(), strings.Join(g.hosts, ", "), g.stateRoot)
			var more []daemon.Frontend
			if docker != nil {
				fmt.Fprintf(g.stderr, "Docker Engine API on %s: export DOCKER_HOST=%s\n", cfg.DockerHost, cfg.DockerHost)
				more = append(more, daemon.Frontend{Listener: docker, Handler: dockerapi.Handler(d, dockerapi.Options{Version: versionString(), Logger: cfg.Logger})})
			}
			return d.Serve(ctx, l, more...)
		},
	}
	g.addEngineFlags(cmd.Flags())
	o.addFlags(cmd.Flags())
	return cmd
}

// client returns a client of the daemon, starting the daemon first when
// nothing listens on a local socket, so a new user needs only the binary.
// projectClient names the project a command acts on and connects to the
// daemon, the start of most project commands.
func (g *globalOptions) projectClient(ctx context.Context) (string, *api.Client, error) {
	name, err := g.projectName()
	if err != nil {
		return "", nil, err
	}
	c, err := g.client(ctx)
	return name, c, err
}

func (g *globalOptions) client(ctx context.Context) (*api.Client, error) {
	c, err := g.newClient()
	if err != nil {
		return nil, err
	}
	path, isUnix := strings.CutPrefix(g.host, "unix://")
	revive := func() {
		// A daemon that dies under a request is started again, and the
		// request sent once more.
		if isUnix {
			c.Revive = g.startDaemon
		}
	}
	var v api.VersionInfo
	err = c.Do(ctx, "GET", "/version", nil, &v)
	if err == nil {
		revive()
		return c, nil
	}
	if !isUnix {
		// A remote daemon is never started from here.
		return nil, g.remoteUnreachable(ctx, err)
	}
	switch {
	case !errors.Is(err, errdefs.ErrUnavailable):
		return nil, err
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("permission denied on %s\n\nRun as root, or join the socket's group (a daemon started with --group stack\ncreates it): sudo usermod -aG stack $USER, then log in again.", path)
	case !api.Gone(err):
		return nil, err
	}
	// Nothing listens, or a daemon is exiting (its socket accepted and
	// reset): start one.
	if err := g.startDaemon(ctx); err != nil {
		return nil, err
	}
	revive()
	return c, nil
}

// startDaemon starts `stack daemon` in its own session, detached from this
// process, and waits until it answers.
func (g *globalOptions) startDaemon(ctx context.Context) error {
	c, err := g.newClient()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	if err := os.MkdirAll(g.stateRoot, 0o711); err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	logPath := filepath.Join(g.stateRoot, "daemon.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(exe, "daemon", "-H", g.host, "--state-root", g.stateRoot)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	for {
		var v api.VersionInfo
		if err := c.Do(ctx, "GET", "/version", nil, &v); err == nil {
			fmt.Fprintf(g.stderr, "stack: started the daemon on %s (log: %s)\n", g.host, logPath)
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the daemon exited at start (%v); the end of %s:\n%s", err, logPath, lastLines(logPath, 3))
		case <-deadline:
			return fmt.Errorf("the daemon did not answer within 15s: see %s", logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// socketGroup returns the gid of the socket's group, creating the group
// (a system group, as groupadd -r makes it) when --group names one that
// does not exist. Without --group, a missing "stack" group leaves the
// socket to root alone.
func socketGroup(name string, explicit bool) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if !explicit {
		return 0, nil
	}
	if out, err := exec.Command("groupadd", "--system", name).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("create group %s: %v\n%s", name, err, bytes.TrimSpace(out))
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("group %s: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}

// chownSockets gives the daemon's unix sockets to the group gid (mode
// 0660: root and the group's members).
func (g *globalOptions) chownSockets(gid int) error {
	if gid == 0 {
		return nil
	}
	for _, h := range g.hosts {
		if path, ok := strings.CutPrefix(h, "unix://"); ok {
			if err := os.Chown(path, 0, gid); err != nil {
				return fmt.Errorf("chown socket %s: %w", path, err)
			}
		}
	}
	return nil
}

// lastLines returns the last n lines of a file.
func lastLines(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(string(bytes.TrimSpace(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// shimBinary is stack-shim beside stack. Without it the whole stack
// binary is containers' shim too, slower; stack-daemon cannot be
// (runtime/cgroupfs_linux.go), and refuses to start.
func shimBinary(stderr io.Writer) (string, error) {
	if daemonCanBeShim {
		return besideStack("stack-shim", "containers start from the stack binary, slower", stderr), nil
	}
	if p := besideStack("stack-shim", "", io.Discard); p != "" {
		return p, nil
	}
	exe, _ := os.Executable()
	return "", fmt.Errorf("no stack-shim beside %s, which runs containers' shims from it: install stack, stack-daemon, stack-shim and stack-init from one build", exe)
}

// besideStack finds the program name beside this binary, where make
// install and the release archive put stack-shim and stack-init. Without
// one, the daemon runs its roles from a larger binary: everything works,
// containers start slower (without says how), and a warning says so.
func besideStack(name, without string, stderr io.Writer) string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		fmt.Fprintf(stderr, "warning: no %s beside %s: %s (make install puts it in place)\n", name, exe, without)
		return ""
	}
	return p
}
