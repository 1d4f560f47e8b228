package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
