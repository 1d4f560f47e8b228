package api

import (
	"context"
	"encoding/json"
)

// RunRequest runs a one-off container of a service, as `stack run` does:
// the service's configuration with the command and settings given here,
// no published ports and no restart policy.
type RunRequest struct {
	Project json.RawMessage `json:"project"`
	Service string          `json:"service"`
	// Cmd replaces the service's command when not empty.
	Cmd        []string `json:"cmd,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Env        []string `json:"env,omitempty"`
	User       string   `json:"user,omitempty"`
	Workdir    string   `json:"workdir,omitempty"`
	Name       string   `json:"name,omitempty"`
	Tty        bool     `json:"tty,omitempty"`
	// Remove removes the container once it exits.
	Remove bool `json:"remove,omitempty"`
	// NoDeps skips starting the service's dependencies.
	NoDeps bool `json:"no_deps,omitempty"`
	// Detach starts the container and answers its name at once.
	Detach bool `json:"detach,omitempty"`
	// KeepPorts publishes the ports of the service as Project has them
	// (run -p, --service-ports); without it a one-off publishes none.
	KeepPorts bool `json:"keep_ports,omitempty"`
	// UseAliases gives the container its service's name and network
	// aliases in DNS (run --use-aliases); without it the one-off answers
	// to its own name only.
	UseAliases bool `json:"use_aliases,omitempty"`
	// Pull overrides the pull_policy of the service and of the
	// dependencies run starts: always, missing or never (run --pull), as
	// UpRequest.Pull. Without it a missing image is pulled unless the
	// service's pull_policy says otherwise.
	Pull string `json:"pull,omitempty"`
	// RemoveOrphans removes the containers of services the stack file no
	// longer has first (run --remove-orphans), as up does.
	RemoveOrphans bool   `json:"remove_orphans,omitempty"`
	Width         uint16 `json:"width,omitempty"`
	Height        uint16 `json:"height,omitempty"`
}

// RunResult answers a detached run.
type RunResult struct {
	Name string `json:"name"`
}

// Run starts req; unless req.Detach, it returns the framed connection that
// carries the container's output and exit code (and its terminal, with
// Tty). A detached run answers nil and fills res.
func (c *Client) Run(ctx context.Context, project string, req RunRequest, res *RunResult) (*FrameConn, error) {
	if req.Detach {
		return nil, c.Do(ctx, "POST", "/projects/"+project+"/run", req, res)
	}
	return c.upgrade(ctx, "/projects/"+project+"/run", req)
}
