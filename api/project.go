package api

import (
	"encoding/json"
	"time"
)

// UpRequest asks the daemon to bring a project to the state its stack file
// describes. The CLI loads and validates the stack file; Project is the
// normalised model as spec.RenderJSON prints it.
type UpRequest struct {
	Project       json.RawMessage `json:"project"`
	Profiles      []string        `json:"profiles,omitempty"`
	Services      []string        `json:"services,omitempty"`
	NoDeps        bool            `json:"no_deps,omitempty"`
	ForceRecreate bool            `json:"force_recreate,omitempty"`
	NoRecreate    bool            `json:"no_recreate,omitempty"`
	RemoveOrphans bool            `json:"remove_orphans,omitempty"`
	Scale         map[string]int  `json:"scale,omitempty"`
	// Build builds the images of services with build: even when they
	// exist (up --build); without it only missing ones are built.
	Build bool `json:"build,omitempty"`
	// Wait blocks until every started service is running and healthy (or
	// completed), failing if one is not within Timeout.
	Wait    bool          `json:"wait,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

// DownRequest asks the daemon to stop and remove a project's containers
// and networks.
type DownRequest struct {
	// Volumes removes the project's named volumes too (down -v).
	Volumes bool `json:"volumes,omitempty"`
	// RemoveOrphans is accepted for compatibility: down removes every
	// container of the project, orphans included.
	RemoveOrphans bool `json:"remove_orphans,omitempty"`
	// Timeout is the stop grace period; the services' own when zero (the
	// CLI sends a nanosecond for -t 0).
	Timeout time.Duration `json:"timeout,omitempty"`
	// RemoveImages is "local" (images built for the project, named after
	// it) or "all" (every image its services used), as down --rmi.
	RemoveImages string `json:"remove_images,omitempty"`
}

// StopRequest asks for services to be stopped (or killed, restarted).
type StopRequest struct {
	Services []string      `json:"services,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	Signal   string        `json:"signal,omitempty"`
}

// Event is one thing that happened to a project or to a container,
// network, volume or image of the engine, streamed by up and by `stack
// events`, in the order it happened.
type Event struct {
	Time time.Time `json:"time"`
	// Type is what the event is about: one of the Type constants;
	// TypeContainer when empty (an older daemon's).
	Type      string `json:"type,omitempty"`
	Project   string `json:"project"`
	Service   string `json:"service,omitempty"`
	Container string `json:"container,omitempty"`
	// ID is the container's ID for a container event, the network's for
	// a network event, the image's for an image event.
	ID string `json:"id,omitempty"`
	// Image is the container's image, or the image of an image event.
	Image string `json:"image,omitempty"`
	// Network and Volume name the network or volume of their events.
	Network string `json:"network,omitempty"`
	Volume  string `json:"volume,omitempty"`
	// Labels are the labels of the container, network or volume.
	Labels map[string]string `json:"labels,omitempty"`
	// Action is what happened: one of the Action constants.
	Action string `json:"action"`
	// ExitCode is the container's exit code, on ActionDie.
	ExitCode *int `json:"exit_code,omitempty"`
	// Message says more: an exit code, a health check's output, an error.
	Message string `json:"message,omitempty"`
	// Error was set, with Action "error" and the class in Message, on the
	// last event of a failed request by daemons older than the
	// [StreamError] framing.
	Error string `json:"error,omitempty"`
}

// The types of [Event].
const (
	TypeContainer = "container"
	TypeNetwork   = "network"
	TypeVolume    = "volume"
	TypeImage     = "image"
)

// The actions of [Event], the vocabulary of the event stream.
const (
	// A container's life.
	ActionCreate        = "create"
	ActionStart         = "start"
	ActionStop          = "stop"
	ActionRemove        = "remove"
	ActionKill          = "kill"
	ActionPause         = "pause"
	ActionUnpause       = "unpause"
	ActionRestart       = "restart"
	ActionRestartFailed = "restart-failed"
	// ActionDie: the container's process exited (ExitCode set).
	ActionDie = "die"
	// ActionHealthy and ActionUnhealthy: its health check's verdict.
	ActionHealthy   = "healthy"
	ActionUnhealthy = "unhealthy"
	// ActionExited: a dependency completed successfully.
	ActionExited = "exited"
	// ActionAttach, ActionExecCreate, ActionExecStart, ActionExecDie: a
	// client attached to it or ran a process in it.
	ActionAttach     = "attach"
	ActionExecCreate = "exec-create"
	ActionExecStart  = "exec-start"
	ActionExecDie    = "exec-die"
	ActionResize     = "resize"
	ActionRename     = "rename"

	ActionNetworkCreate     = "network-create"
	ActionNetworkRemove     = "network-remove"
	ActionNetworkConnect    = "network-connect"
	ActionNetworkDisconnect = "network-disconnect"
	ActionVolumeCreate      = "volume-create"
	ActionVolumeRemove      = "volume-remove"

	ActionPull        = "pull"
	ActionPush        = "push"
	ActionBuild       = "build"
	ActionBuildStep   = "build-step"
	ActionBuilt       = "built"
	ActionImageRemove = "image-remove"
	ActionImageTag    = "image-tag"
	ActionImageUntag  = "image-untag"
	ActionImageLoad   = "image-load"
	ActionImageSave   = "image-save"

	// ActionWarning is something the user should know. ActionError ended
	// a failed operation's stream before [StreamError].
	ActionWarning = "warning"
	ActionError   = "error"
)

// Container is one container of a project, as `stack ps` shows it.
type Container struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Project  string   `json:"project"`
	Service  string   `json:"service"`
	Number   int      `json:"number"`
	Image    string   `json:"image"`
	Command  []string `json:"command"`
	State    string   `json:"state"` // created, running, paused, exited
	Health   string   `json:"health,omitempty"`
	ExitCode int      `json:"exit_code"`
	// RestartCount counts the restarts of the container's restart policy.
	RestartCount int       `json:"restart_count"`
	Created      time.Time `json:"created"`
	Started      time.Time `json:"started,omitzero"`
	Finished     time.Time `json:"finished,omitzero"`
	Ports        []Port    `json:"ports,omitempty"`
	// Networks maps each network to the container's address on it.
	Networks map[string]string `json:"networks,omitempty"`
}

// Port is a published port of a container.
type Port struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

// Project is one project the daemon knows, as `stack ls` shows it.
type Project struct {
	Name    string `json:"name"`
	Running int    `json:"running"`
	Total   int    `json:"total"`
	Status  string `json:"status"`
	WorkDir string `json:"working_dir,omitempty"`
}

// LogLine is one line of a container's output.
type LogLine struct {
	Time      time.Time `json:"time"`
	Container string    `json:"container"`
	Service   string    `json:"service"`
	Stream    string    `json:"stream"`
	Line      string    `json:"line"`
}
