package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/overlay"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
	"github.com/stack-dev/stack/runtime"
)

// DefaultStateRoot is where stack keeps images, containers and volumes.
const DefaultStateRoot = "/var/lib/stack"

// Config configures a [Daemon].
type Config struct {
	// StateRoot is the directory of all persistent state. Required.
	StateRoot string
	// CgroupParent is the cgroup containers are created under. Optional;
	// "stack" when empty.
	CgroupParent string
	// Version is the server version reported by Info. Optional.
	Version string
	// NetworkTable is the nftables table of the daemon's rules. Optional:
	// "stack". Tests give each daemon its own.
	NetworkTable string
	// Logger receives what the daemon logs. Optional.
	Logger *slog.Logger
	// InsecureRegistries may be reached over plain HTTP or with a
	// certificate that does not verify ("host[:port]" or a CIDR), as
	// docker's insecure-registries; loopback registries always may.
	// Optional.
	InsecureRegistries []string
	// DockerHost is where the daemon serves the Docker Engine API
	// ("unix:///run/stack/docker.sock"), for Info to tell. Optional.
	DockerHost string
	// LogMaxSize and LogMaxFiles rotate containers' logs whose service
	// sets no logging options (docker's log-opts max-size and max-file).
	// Optional: DefaultLogMaxSize and DefaultLogMaxFiles.
	LogMaxSize  int64
	LogMaxFiles int
	// ShimBinary is the program that runs containers' shims and inits
	// (stack-shim, see [runtime.Options]). Optional: the daemon's own
	// binary, which starts slower.
	ShimBinary string
	// InitBinary is the program that runs containers' inits and the
	// first step of exec'd processes (stack-init, see [runtime.Options]).
	// Optional: ShimBinary, which starts slower.
	InitBinary string
	// BuildBinary is the program that runs builds, each in a process of
	// its own (stack: stack-daemon holds no builder). Optional: the
	// daemon's own binary.
	BuildBinary string
	// UserNS says whether containers get user namespaces of their own,
	// and where their uid and gid ranges come from. Optional: none do
	// (DefaultUserNSMode); with Mode UserNSPrivate each gets one, from
	// the "stack" entries of /etc/subuid and /etc/subgid.
	UserNS UserNSConfig
}

// The rotation of a container's log when neither the service nor the
// daemon's configuration says: at most 30 MiB of it is kept.
const (
	DefaultLogMaxSize  = 10 << 20
	DefaultLogMaxFiles = 3
)

// Daemon owns the state root and the engines below it. Its methods are
// safe for concurrent use.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	images image.Store
	store  *recordStore
	// unlockRoot releases the state root's lock.
	unlockRoot func()

	// The storage driver and the runtime need root and touch the kernel;
	// they are opened on first use, so image commands work without them.
	open    engineOpeners
	once    sync.Once
	storage overlay.Driver
	runtime containerRuntime
	openErr error

	netOnce sync.Once
	netMgr  networker
	netErr  error

	userns userNS
	// newID makes container IDs: newContainerID, or a counter in tests,
	// whose operation logs name containers.
	newID func() string

	// nameMu makes a container name and its record one step: names are
	// unique across the engine.
	nameMu sync.Mutex
	// attached counts the clients attached to each container.
	attached attachments
	// execs are the processes created for exec, by exec ID.
	execs execTable

	events *eventBus
	// baseCtx outlives requests: container watches run under it until
	// Close.
	baseCtx     context.Context
	stop        context.CancelFunc
	supMu       sync.Mutex
	supervisors map[string]*supervisor
}

// The layout of the state root.
const (
	imageDir     = "image"
	storageDir   = "storage"
	containerDir = "containers"
)

// New opens the daemon's state under cfg.StateRoot, creating it if needed.
func New(cfg Config) (*Daemon, error) {
	return newDaemon(cfg, nil)
}

// newDaemon is New with the engines open gives, the kernel's when nil.
func newDaemon(cfg Config, open *engineOpeners) (*Daemon, error) {
	if cfg.StateRoot == "" || !filepath.IsAbs(cfg.StateRoot) {
		return nil, fmt.Errorf("state root %q must be an absolute path: %w", cfg.StateRoot, errdefs.ErrInvalidArgument)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Only root may enter the state root: below it are containers'
	// files (setuid binaries among them), volumes and logs (Docker's
	// CVE-2021-41091). The directories that hold them are closed too, and
	// an older state root (0711, volumes 0755) is tightened.
	for _, dir := range []string{"", containerDir, rootfsDir, volumesDir, logsDir, projectsDir, storageDir} {
		path := filepath.Join(cfg.StateRoot, dir)
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, fmt.Errorf("create state root: %w", err)
		}
		if err := os.Chmod(path, 0o700); err != nil {
			return nil, fmt.Errorf("state root: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateRoot, etcDir), 0o755); err != nil {
		return nil, fmt.Errorf("create state root: %w", err)
	}
	// Each of these holds one directory per container (or volume), made
	// and removed as containers come and go; on ext4 they spread over the
	// block groups, so that up does not slow down with the churn of the
	// ones before it. It is only a placement hint: a file system that
	// refuses it costs speed, not correctness.
	for _, dir := range []string{containerDir, rootfsDir, volumesDir, etcDir} {
		path := filepath.Join(cfg.StateRoot, dir)
		if err := linux.SpreadSubdirs(path); err != nil {
			log.Warn("spread container directories over the file system", "dir", path, "err", err)
		}
	}
	unlock, err := lockStateRoot(cfg.StateRoot)
	if err != nil {
		return nil, err
	}
	images, err := image.NewStore(filepath.Join(cfg.StateRoot, imageDir))
	if err != nil {
		unlock()
		return nil, fmt.Errorf("open image store: %w", err)
	}
	records, err := loadRecords(filepath.Join(cfg.StateRoot, projectsDir), log)
	if err != nil {
		unlock()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	d := &Daemon{cfg: cfg, log: log, images: images, store: records, unlockRoot: unlock, events: newEventBus(),
		baseCtx: ctx, stop: stop, supervisors: map[string]*supervisor{}, newID: newContainerID}
	if open != nil {
		d.open = *open
	} else {
		d.open = d.realEngines()
	}
	return d, nil
}

// lockStateRoot takes the state root for this daemon: two daemons on one
// state root would each believe they own its records, mounts and links.
// A daemon that is dying holds it for a moment longer, so the lock is
// waited for a few seconds (a CLI that saw the old one go starts the new
// one at once).
func lockStateRoot(root string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(root, "daemon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state root: %w", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock state root: %w", err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("state root %s is in use by another stack daemon: %w", root, errdefs.ErrAlreadyExists)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops watching containers and releases the network manager. The
// containers keep running: a new Daemon adopts them.
func (d *Daemon) Close() error {
	d.stop()
	d.supMu.Lock()
	sups := d.supervisors
	d.supervisors = map[string]*supervisor{}
	d.supMu.Unlock()
	for _, s := range sups {
		s.cancel()
		s.wg.Wait()
	}
	var err error
	if d.netMgr != nil {
		// The Docker API's default network stays while the daemon runs,
		// as docker0 does, and goes with it when no container is on it.
		d.removeDefaultNetwork(context.Background())
		err = d.netMgr.Close()
	}
	d.unlockRoot()
	return err
}

// networks opens the network manager on first use.
func (d *Daemon) networks() (networker, error) {
	d.netOnce.Do(func() { d.netMgr, d.netErr = d.open.network() })
	return d.netMgr, d.netErr
}

// engines opens the storage driver and the container runtime.
func (d *Daemon) engines() (overlay.Driver, containerRuntime, error) {
	d.once.Do(func() {
		if d.storage, d.openErr = d.open.storage(); d.openErr != nil {
			return
		}
		d.runtime, d.openErr = d.open.runtime()
	})
	return d.storage, d.runtime, d.openErr
}

// ImportImage imports the images of a docker-save or OCI archive. name
// names images the archive leaves unnamed.
func (d *Daemon) ImportImage(ctx context.Context, r io.Reader, name string) ([]api.ImageSummary, error) {
	defer releaseMemory()
	imgs, err := d.images.Import(ctx, r, image.ImportOptions{Name: name})
	if err != nil {
		return nil, fmt.Errorf("import image: %w", err)
	}
	out := make([]api.ImageSummary, len(imgs))
	for i, img := range imgs {
		out[i] = imageSummary(img)
	}
	return out, nil
}

// ImportRootfs imports a root filesystem, a directory or a tar file, as a
// single-layer image.
func (d *Daemon) ImportRootfs(ctx context.Context, req api.RootfsImport) (api.ImageSummary, error) {
	defer releaseMemory()
	if req.Source == "" || req.Ref == "" {
		return api.ImageSummary{}, fmt.Errorf("import root filesystem: a source and a name are required: %w", errdefs.ErrInvalidArgument)
	}
	opts := image.RootfsOptions{
		Config: image.Config{
			Cmd: req.Cmd, Entrypoint: req.Entrypoint, Env: req.Env,
			WorkingDir: req.WorkingDir, User: req.User,
		},
		CreatedBy: "stack image import --rootfs " + filepath.Base(req.Source),
	}
	fi, err := os.Stat(req.Source)
	if err != nil {
		return api.ImageSummary{}, fmt.Errorf("import root filesystem: %w", err)
	}
	if fi.IsDir() {
		opts.Dir = req.Source
	} else {
		f, err := os.Open(req.Source)
		if err != nil {
			return api.ImageSummary{}, fmt.Errorf("import root filesystem: %w", err)
		}
		defer f.Close()
		opts.Tar = f
	}
	img, err := d.images.ImportRootfs(ctx, req.Ref, opts)
	if err != nil {
		return api.ImageSummary{}, fmt.Errorf("import root filesystem %s: %w", req.Source, err)
	}
	return imageSummary(img), nil
}

// Images lists the stored images.
func (d *Daemon) Images(ctx context.Context) ([]api.ImageSummary, error) {
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]api.ImageSummary, len(imgs))
	for i, img := range imgs {
		out[i] = imageSummary(img)
	}
	return out, nil
}

// RemoveImage untags or deletes an image, refusing one that a container
// uses unless force is set.
func (d *Daemon) RemoveImage(ctx context.Context, ref string, force bool) (api.ImageRemoveReport, error) {
	rep, err := d.images.Remove(ctx, ref, image.RemoveOptions{Force: force, InUse: d.imageInUse})
	if err != nil {
		return api.ImageRemoveReport{}, fmt.Errorf("remove image %s: %w", ref, err)
	}
	out := api.ImageRemoveReport{Untagged: rep.Untagged}
	for _, dg := range rep.Deleted {
		out.Deleted = append(out.Deleted, dg.String())
	}
	return out, nil
}

// ImageHistory lists the layers and steps of an image, newest first.
func (d *Daemon) ImageHistory(ctx context.Context, ref string) ([]api.ImageHistoryEntry, error) {
	h, err := d.images.History(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("image history %s: %w", ref, err)
	}
	out := make([]api.ImageHistoryEntry, len(h))
	for i, e := range h {
		out[i] = api.ImageHistoryEntry{ID: e.ID, Created: e.Created, CreatedBy: e.CreatedBy, Size: e.Size, Comment: e.Comment, EmptyLayer: e.EmptyLayer}
	}
	return out, nil
}

// InspectImage describes an image as `docker image inspect` does.
func (d *Daemon) InspectImage(ctx context.Context, ref string) (any, error) {
	in, err := d.images.Inspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return in, nil
}

// Info describes the engine: where users look for the storage driver and
// cgroup version in use.
func (d *Daemon) Info(ctx context.Context) (api.Info, error) {
	info := api.Info{
		ServerVersion:   d.cfg.Version,
		APIVersion:      api.Version,
		DockerHost:      d.cfg.DockerHost,
		StateRoot:       d.cfg.StateRoot,
		CgroupDriver:    "cgroupfs",
		Runtime:         "stack (built in)",
		OperatingSystem: osRelease(),
		Architecture:    goruntime.GOARCH,
		CPUs:            goruntime.NumCPU(),
		// Every container gets Docker's seccomp profile (unless it opts
		// out) and a cgroup namespace.
		SecurityOptions: []string{"name=seccomp,profile=builtin", "name=cgroupns"},
	}
	switch runtime.HostCgroupMode() {
	case runtime.CgroupUnified:
		info.CgroupVersion = "2"
	case runtime.CgroupHybrid:
		info.CgroupVersion = "1 (hybrid)"
	case runtime.CgroupLegacy:
		info.CgroupVersion = "1"
	default:
		info.CgroupVersion = "unavailable"
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		info.KernelVersion = unix.ByteSliceToString(uts.Release[:])
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err == nil {
		info.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return info, fmt.Errorf("list images: %w", err)
	}
	info.Images = len(imgs)
	storage, rt, err := d.engines()
	if err != nil {
		info.StorageDriver = "unavailable: " + err.Error()
		return info, nil
	}
	info.StorageDriver = storage.Name()
	states, err := rt.List()
	if err != nil {
		return info, fmt.Errorf("list containers: %w", err)
	}
	info.Containers = len(states)
	for _, s := range states {
		if s.Status == runtime.Running {
			info.ContainersRunning++
		}
	}
	return info, nil
}

func imageSummary(img image.Image) api.ImageSummary {
	return api.ImageSummary{ID: img.ID.String(), RepoTags: img.RepoTags(), Created: img.Created, Size: img.Size}
}

// osRelease returns PRETTY_NAME from /etc/os-release.
func osRelease() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "linux"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}
