package dockerapi

import (
	"context"
	"io"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/daemon"
)

// Backend is the daemon's service layer as the Docker API uses it:
// [daemon.Daemon] in production. It is the set of small interfaces
// below, one per group of routes.
type Backend interface {
	systemBackend
	containerBackend
	execBackend
	imageBackend
	networkBackend
	volumeBackend
}

var _ Backend = (*daemon.Daemon)(nil)

type systemBackend interface {
	Info(ctx context.Context) (api.Info, error)
	SubscribeEvents(since time.Time) ([]api.Event, <-chan api.Event, func())
}

type containerBackend interface {
	CreateContainer(ctx context.Context, req daemon.ContainerCreate) (string, error)
	ListContainers(ctx context.Context) ([]daemon.ContainerInfo, error)
	InspectContainer(ctx context.Context, ref string) (daemon.ContainerInfo, error)
	ContainerSize(ctx context.Context, ref string) (int64, error)
	StartContainer(ctx context.Context, ref string) error
	StopContainer(ctx context.Context, ref string, timeout *time.Duration) error
	KillContainer(ctx context.Context, ref, signal string) error
	RestartContainer(ctx context.Context, ref string, timeout *time.Duration) error
	PauseContainer(ctx context.Context, ref string) error
	UnpauseContainer(ctx context.Context, ref string) error
	RemoveContainer(ctx context.Context, ref string, o daemon.RemoveOptions) error
	WatchContainer(ref string, cond daemon.WaitCondition) (func(ctx context.Context) (daemon.WaitResult, error), error)
	AttachContainer(ctx context.Context, ref string, o daemon.AttachOptions) (*daemon.Attachment, error)
	ResizeContainer(ctx context.Context, ref string, width, height uint16) error
	ContainerLogs(ctx context.Context, ref string, o daemon.ContainerLogsOptions, emit func(api.LogLine) error) error
	TopContainer(ctx context.Context, ref string) (api.ContainerTop, error)
	ContainerStats(ctx context.Context, ref string) (daemon.StatsSample, error)
	StatContainerPath(ctx context.Context, ref, path string) (daemon.PathStat, error)
	ArchiveContainerPath(ctx context.Context, ref, path string, w io.Writer) error
	ExtractToContainer(ctx context.Context, ref, path string, r io.Reader, keepOwner bool) error
	PruneContainers(ctx context.Context, match func(daemon.ContainerInfo) bool) ([]string, error)
}

type execBackend interface {
	CreateExec(ctx context.Context, ref string, spec daemon.ExecSpec) (string, error)
	StartExec(ctx context.Context, id string, stdio daemon.ExecIO) (int, error)
	ResizeExec(ctx context.Context, id string, width, height uint16) error
	InspectExec(ctx context.Context, id string) (daemon.ExecInfo, error)
}

type imageBackend interface {
	ImageList(ctx context.Context) ([]daemon.ImageInfo, error)
	ImageInfo(ctx context.Context, ref string) (daemon.ImageInfo, error)
	ImageHistory(ctx context.Context, ref string) ([]api.ImageHistoryEntry, error)
	TagImage(ctx context.Context, ref, target string) error
	RemoveImage(ctx context.Context, ref string, force bool) (api.ImageRemoveReport, error)
	PruneImages(ctx context.Context, all bool, match func(daemon.ImageInfo) bool) ([]api.ImageRemoveReport, int64, error)
	PullImages(ctx context.Context, refs []string, emit func(api.ImageProgress)) error
	PushImage(ctx context.Context, ref string, emit func(api.ImageProgress)) error
	SaveImages(ctx context.Context, w io.Writer, refs []string) error
	ImportImage(ctx context.Context, r io.Reader, name string) ([]api.ImageSummary, error)
	BuildContext(ctx context.Context, tarball io.Reader, req api.BuildRequest, emit func(api.BuildEvent)) (api.BuildEvent, error)
}

type networkBackend interface {
	NetworkList(ctx context.Context) ([]daemon.NetworkInfo, error)
	InspectNetwork(ctx context.Context, ref string) (daemon.NetworkInfo, error)
	CreateNetwork(ctx context.Context, req daemon.NetworkCreate) (daemon.NetworkInfo, error)
	RemoveNetwork(ctx context.Context, ref string) error
	ConnectNetwork(ctx context.Context, netRef, containerRef string, req daemon.EndpointRequest) error
	DisconnectNetwork(ctx context.Context, netRef, containerRef string) error
	PruneNetworks(ctx context.Context, match func(daemon.NetworkInfo) bool) ([]string, error)
}

type volumeBackend interface {
	Volumes(ctx context.Context) ([]api.Volume, error)
	CreateVolume(ctx context.Context, req daemon.VolumeCreate) (api.Volume, error)
	InspectVolume(ctx context.Context, name string) (api.Volume, error)
	RemoveVolume(ctx context.Context, name string) error
	PruneVolumes(ctx context.Context, all bool, match func(api.Volume) bool) ([]string, int64, error)
	VolumeSize(name string) int64
}
