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
	// NoStart creates the containers without starting them (create, up
	// --no-start); existing stopped ones stay stopped.
	NoStart bool `json:"no_start,omitempty"`
	// NoBuild never builds: a missing image of a service with build: is
	// an error (up --no-build).
	NoBuild bool `json:"no_build,omitempty"`
	// Pull overrides every service's pull_policy: always, missing or
	// never (up --pull).
	Pull string `json:"pull,omitempty"`
	// RenewAnonVolumes gives recreated containers new anonymous volumes
	// instead of their predecessors' (up -V).
	RenewAnonVolumes bool `json:"renew_anon_volumes,omitempty"`
	// AlwaysRecreateDeps recreates the dependencies of the named services
	// too when they are recreated (up --always-recreate-deps); otherwise,
	// as in compose, --force-recreate applies to the named services only.
	AlwaysRecreateDeps bool `json:"always_recreate_deps,omitempty"`
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
	// Services takes down only the containers of these services and of
	// the services that depend on them, as compose's down SERVICE...;
	// one-offs stay unless RemoveOrphans. Networks, volumes (with
	// Volumes) and images (with RemoveImages) go only when no container
	// left uses them. Empty means the whole project.
	Services []string `json:"services,omitempty"`
	// StackServices are the services of the stack file, when there is
	// one: with Services and RemoveOrphans, the containers of other
	// services and the exited one-offs go too, as compose's orphans.
	StackServices []string `json:"stack_services,omitempty"`
}

// StopRequest asks for services to be stopped (or killed, restarted,
// started).
type StopRequest struct {
	Services []string      `json:"services,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	Signal   string        `json:"signal,omitempty"`
	// Project is the stack file's model (spec.RenderJSON), for start: the
	// services start in dependency order, each once its dependencies
	// meet their depends_on conditions, as compose's start. Without it,
	// start follows the dependencies the containers recorded, and checks
	// no condition.
	// For restart, the model makes the services that depend on the
	// restarted ones with restart: true restart too, unless NoDeps.
	Project  json.RawMessage `json:"project,omitempty"`
	Profiles []string        `json:"profiles,omitempty"`
	NoDeps   bool            `json:"no_deps,omitempty"`
	// StackServices are the services of the stack file, when there is
	// one, for kill: containers of other services (orphans) are killed
	// only with RemoveOrphans, as compose's kill --remove-orphans.
	StackServices []string `json:"stack_services,omitempty"`
	RemoveOrphans bool     `json:"remove_orphans,omitempty"`
}

// RemoveRequest removes a project's stopped containers, one-offs
// included (rm).
type RemoveRequest struct {
	Services []string `json:"services,omitempty"`
	// Stop stops the containers first (rm -s).
	Stop bool `json:"stop,omitempty"`
	// Volumes removes the containers' anonymous volumes too (rm -v).
	Volumes bool `json:"volumes,omitempty"`
	// DryRun lists what would be removed and removes nothing, for the
	// confirmation rm asks without -f.
	DryRun bool `json:"dry_run,omitempty"`
}

// WaitRequest waits for the running containers of services to exit
// (wait).
type WaitRequest struct {
	Services []string `json:"services"`
	// DownProject takes the project down once the first container exits
	// (wait --down-project).
	DownProject bool `json:"down_project,omitempty"`
}

// WaitResult says how the first container exited.
type WaitResult struct {
	Container string `json:"container"`
	ExitCode  int    `json:"exit_code"`
}

// AttachRequest follows a project in the foreground (up without -d):
// the output of the Logs services and the exits of the Watch services,
// until every container of Watch has exited for good.
type AttachRequest struct {
	// Logs are the services whose output is sent; empty means all.
	Logs []string `json:"logs,omitempty"`
	// Watch are the services whose exits end the stream; empty means
	// all.
	Watch []string `json:"watch,omitempty"`
	// NoLogs sends no output at all (every service --no-attach).
	NoLogs bool `json:"no_logs,omitempty"`
	// Since leaves out the output written before it: up sends the time
	// it began, so that, as compose's attach, a container it starts shows
	// its run from the beginning and one already running only what comes
	// next, not the history of its log.
	Since time.Time `json:"since,omitzero"`
}

// AttachEvent is one item of an attach stream: a line of output, or a
// container's exit, which comes after its last line.
type AttachEvent struct {
	Log  *LogLine `json:"log,omitempty"`
	Exit *Exit    `json:"exit,omitempty"`
}

// Exit is a container's exit, as compose prints it: "NAME exited with
// code N", with " (restarting)" when its restart policy starts it again.
type Exit struct {
	Container  string `json:"container"`
	Service    string `json:"service"`
	ExitCode   int    `json:"exit_code"`
	Restarting bool   `json:"restarting,omitempty"`
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
	// The steps in progress, so a display can time them.
	ActionCreating   = "creating"
	ActionStarting   = "starting"
	ActionStopping   = "stopping"
	ActionRemoving   = "removing"
	ActionRestarting = "restarting"
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
	// ActionNetworkInUse and ActionVolumeInUse: down SERVICE... left the
	// network or volume to the containers that stay.
	ActionNetworkInUse = "network-in-use"
	ActionVolumeInUse  = "volume-in-use"

	// ActionPulling: a pull of Image began; ActionPull: it ended.
	ActionPulling     = "pulling"
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

	// ActionWarning is something the user should know. A failed
	// operation's stream ends with a [StreamError], never an event.
	ActionWarning = "warning"
)

// Container is one container of a project, as `stack ps` shows it.
type Container struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Project string `json:"project"`
	Service string `json:"service"`
	Number  int    `json:"number"`
	// OneOff marks a container of `stack run`: not one of its service's
	// replicas, so neither waits nor syncs count it.
	OneOff   bool     `json:"one_off,omitempty"`
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
