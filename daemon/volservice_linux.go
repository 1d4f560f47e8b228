package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/spec"
)

// The volume service: volumes made and looked at one by one, as the
// Docker API asks.

// VolumeCreate asks for a volume.
type VolumeCreate struct {
	// Name is the volume's; a generated one (64 hex digits) when empty.
	Name string
	// Labels are kept. LabelProject makes the volume that project's: its
	// down -v removes it.
	Labels map[string]string
}

// volumeInfo describes the volume at dir; users maps volumes to the
// containers that mount them.
func volumeInfo(dir string, users map[string][]string) api.Volume {
	name := filepath.Base(dir)
	owner, _ := os.ReadFile(filepath.Join(dir, "project"))
	meta := readVolumeMeta(dir)
	project := strings.TrimSpace(string(owner))
	if project == standaloneProject {
		project = ""
	}
	return api.Volume{Name: name, Driver: "local", Mountpoint: filepath.Join(dir, "_data"), Project: project,
		Anonymous: meta.Anonymous, UsedBy: users[name], Labels: meta.Labels, Created: meta.Created}
}

// CreateVolume creates a volume, or returns the one of that name.
func (d *Daemon) CreateVolume(ctx context.Context, req VolumeCreate) (api.Volume, error) {
	name := req.Name
	if name == "" {
		name = newContainerID()
	}
	if err := ident.Name("volume name", name); err != nil {
		return api.Volume{}, err
	}
	project := containerProject(req.Labels)
	err := d.ensureVolume(&spec.Volume{Name: name}, project, volumeMeta{Labels: req.Labels, Anonymous: req.Name == ""}, d.events.publish)
	if err != nil {
		return api.Volume{}, err
	}
	return d.InspectVolume(ctx, name)
}

// InspectVolume describes one volume.
func (d *Daemon) InspectVolume(ctx context.Context, name string) (api.Volume, error) {
	if err := ident.Name("volume name", name); err != nil {
		return api.Volume{}, err
	}
	dir := d.volumeDir(name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return api.Volume{}, fmt.Errorf("no such volume: %s: %w", name, errdefs.ErrNotFound)
	}
	users, err := d.volumeUsers()
	if err != nil {
		return api.Volume{}, err
	}
	return volumeInfo(dir, users), nil
}

// VolumeSize is the bytes the files of a volume take on disk.
func (d *Daemon) VolumeSize(name string) int64 { return diskUsage(d.volumeDir(name)) }

// PruneVolumes removes the volumes no container mounts that are
// anonymous (every one with all) and match (nil: all), and returns their
// names and the bytes that gave back.
func (d *Daemon) PruneVolumes(ctx context.Context, all bool, match func(api.Volume) bool) ([]string, int64, error) {
	vols, err := d.Volumes(ctx)
	if err != nil {
		return nil, 0, err
	}
	var removed []string
	var reclaimed int64
	var errs []error
	for _, v := range vols {
		if len(v.UsedBy) > 0 || !v.Anonymous && !all || match != nil && !match(v) {
			continue
		}
		size := diskUsage(d.volumeDir(v.Name))
		if err := d.RemoveVolume(ctx, v.Name); err != nil {
			if !errors.Is(err, errdefs.ErrFailedPrecondition) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, v.Name)
		reclaimed += size
	}
	return removed, reclaimed, errors.Join(errs...)
}

// volumeUsers maps each volume to the containers that mount it, stopped
// ones included, as their records say.
func (d *Daemon) volumeUsers() (map[string][]string, error) {
	recs, err := d.records("")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(d.cfg.StateRoot, volumesDir) + "/"
	users := map[string][]string{}
	for _, r := range recs {
		if r.Spec == nil {
			continue
		}
		for _, m := range r.Spec.Mounts {
			rest, ok := strings.CutPrefix(m.Source, root)
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(rest, "/")
			if !slices.Contains(users[name], r.Name) {
				users[name] = append(users[name], r.Name)
			}
		}
	}
	return users, nil
}

// Volumes lists the volumes under the state root, sorted by name.
func (d *Daemon) Volumes(ctx context.Context) ([]api.Volume, error) {
	dirs, err := filepath.Glob(filepath.Join(d.cfg.StateRoot, volumesDir, "*"))
	if err != nil {
		return nil, err
	}
	users, err := d.volumeUsers()
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := []api.Volume{}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || strings.HasPrefix(filepath.Base(dir), ".") {
			continue
		}
		out = append(out, volumeInfo(dir, users))
	}
	return out, nil
}

// RemoveVolume removes a volume and its data. It refuses a volume that a
// container, running or stopped, mounts.
func (d *Daemon) RemoveVolume(ctx context.Context, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("volume name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	dir := d.volumeDir(name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("volume %q: no such volume (see `stack volume ls`): %w", name, errdefs.ErrNotFound)
	}
	unlock, err := d.lockVolumeProject(dir)
	if err != nil {
		return err
	}
	defer unlock()
	users, err := d.volumeUsers()
	if err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if u := users[name]; len(u) > 0 {
		return fmt.Errorf("volume %q is in use by container %s: remove the container first (`stack down`): %w",
			name, strings.Join(u, ", "), errdefs.ErrFailedPrecondition)
	}
	meta := readVolumeMeta(dir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	d.events.publish(api.Event{Type: api.TypeVolume, Volume: name, Labels: meta.Labels, Action: api.ActionVolumeRemove})
	return nil
}

// lockVolumeProject takes the lock of the project that created the volume
// at dir, so that no `up` of it starts using the volume while it goes.
func (d *Daemon) lockVolumeProject(dir string) (func(), error) {
	owner, _ := os.ReadFile(filepath.Join(dir, "project"))
	project := strings.TrimSpace(string(owner))
	if project == "" || strings.ContainsAny(project, "/\x00") {
		return func() {}, nil
	}
	return d.lockProject(project)
}

func (d *Daemon) pruneVolumes(ctx context.Context, all bool, rep *api.PruneReport) error {
	vols, err := d.Volumes(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vols {
		if len(v.UsedBy) > 0 || !v.Anonymous && !all {
			continue
		}
		size := diskUsage(d.volumeDir(v.Name))
		if err := d.RemoveVolume(ctx, v.Name); err != nil {
			if !errors.Is(err, errdefs.ErrFailedPrecondition) {
				errs = append(errs, err)
			}
			continue
		}
		rep.Volumes = append(rep.Volumes, v.Name)
		rep.SpaceReclaimed += size
	}
	return errors.Join(errs...)
}

// diskUsage returns the bytes the files under dir take on disk.
func diskUsage(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*unix.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}
