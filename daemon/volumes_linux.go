package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// volumesDir holds one directory per named volume, its content in _data
// (docker's layout).
const volumesDir = "volumes"

func (d *Daemon) volumeDir(name string) string {
	return filepath.Join(d.cfg.StateRoot, volumesDir, name)
}

// newAnonymousVolumeName names a new anonymous volume of a service:
// random, as docker's are, so a container that is removed and created
// again (down, then up) starts from the image's content, while one that is
// recreated takes over its predecessor's volumes by name
// (record.AnonVolumes). The project prefix lets down -v find it. A
// container of no project (the Docker API's) gets 64 hex digits, as
// docker names them.
func newAnonymousVolumeName(project, service string) string {
	if project == standaloneProject {
		return newContainerID()
	}
	return project + "_" + service + "_anon_" + newContainerID()[:24]
}

// anonymousTargets returns the targets of the anonymous volumes a
// container of svc gets: the stack file's volumes without a source, and the
// image's VOLUME paths that nothing of the service is mounted at, as the
// docker engine adds them.
func anonymousTargets(svc *spec.Service, img image.Config) []string {
	var out []string
	taken := map[string]bool{}
	for _, v := range svc.Volumes {
		taken[path.Clean(v.Target)] = true
		if v.Type == spec.VolumeTypeVolume && v.Source == "" {
			out = append(out, path.Clean(v.Target))
		}
	}
	for _, t := range svc.Tmpfs {
		dst, _, _ := strings.Cut(t, ":")
		taken[path.Clean(dst)] = true
	}
	for _, r := range append(slices.Clone(svc.Secrets), svc.Configs...) {
		if r.Target != "" {
			taken[path.Clean(r.Target)] = true
		}
	}
	for _, t := range sortedKeys(img.Volumes) {
		if t = path.Clean(t); path.IsAbs(t) && !taken[t] {
			taken[t] = true
			out = append(out, t)
		}
	}
	return out
}

// anonymousVolumes gives r a volume for each of targets: the one it
// already names (a recreated container's, taken over), or a new one.
// Those it named for targets it no longer has are left to down -v.
func (d *Daemon) anonymousVolumes(r *record, targets []string) error {
	vols := map[string]string{}
	for _, t := range targets {
		name := r.AnonVolumes[t]
		if name == "" {
			name = newAnonymousVolumeName(r.Project, r.Service)
		}
		dir := d.volumeDir(name)
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
				return err
			}
			if err := createVolume(dir, r.Project, volumeMeta{Anonymous: true}); err != nil {
				return fmt.Errorf("create anonymous volume for %s: %w", t, err)
			}
		}
		vols[t] = name
	}
	r.AnonVolumes = vols
	if len(vols) == 0 {
		r.AnonVolumes = nil
	}
	return nil
}

// removeAnonymousVolumes removes the anonymous volumes of r (rm -v, run
// --rm, up -V).
func (d *Daemon) removeAnonymousVolumes(r *record) error {
	var errs []error
	for _, t := range sortedKeys(r.AnonVolumes) {
		name := r.AnonVolumes[t]
		if err := ident.Name("volume name", name); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(d.volumeDir(name)); err != nil {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", name, err))
			continue
		}
		d.events.publish(api.Event{Type: api.TypeVolume, Volume: name, Action: api.ActionVolumeRemove})
	}
	return errors.Join(errs...)
}

// ensureVolumes creates the named volumes the selected services use.
// External volumes must exist already.
func (d *Daemon) ensureVolumes(p *spec.Project, sel *planner.Selection, ev emitFunc) error {
	for _, key := range sortedKeys(p.Volumes) {
		v := p.Volumes[key]
		used := false
		for _, s := range sel.Services() {
			for _, sv := range p.Services[s].Volumes {
				used = used || sv.Type == spec.VolumeTypeVolume && sv.Source == key
			}
		}
		if !used {
			continue
		}
		if err := d.ensureVolume(v, p.Name, volumeMeta{Labels: v.Labels}, ev); err != nil {
			return err
		}
	}
	return nil
}

// ensureVolume creates volume v of project unless it exists. An external
// volume must exist already.
func (d *Daemon) ensureVolume(v *spec.Volume, project string, meta volumeMeta, ev emitFunc) error {
	dir := d.volumeDir(v.Name)
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if v.External {
		return fmt.Errorf("external volume %q does not exist: create it first: %w", v.Name, errdefs.ErrNotFound)
	}
	if err := ident.Name("volume name", v.Name); err != nil {
		return err
	}
	if err := createVolume(dir, project, meta); err != nil {
		return fmt.Errorf("create volume %s: %w", v.Name, err)
	}
	ev(api.Event{Type: api.TypeVolume, Volume: v.Name, Labels: meta.Labels, Action: api.ActionVolumeCreate})
	return nil
}

// volumeMeta is what a volume's meta.json keeps besides its owner
// project: its labels, its creation time and whether it is anonymous
// (made for one container, unnamed).
type volumeMeta struct {
	Labels    map[string]string `json:"labels,omitempty"`
	Created   time.Time         `json:"created"`
	Anonymous bool              `json:"anonymous,omitempty"`
}

// readVolumeMeta reads the meta.json of the volume at dir; a volume of an
// older version has none: its creation time is its directory's.
func readVolumeMeta(dir string) volumeMeta {
	var m volumeMeta
	if data, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil && json.Unmarshal(data, &m) == nil {
		return m
	}
	if fi, err := os.Stat(dir); err == nil {
		m.Created = fi.ModTime()
	}
	m.Anonymous = strings.Contains(filepath.Base(dir), "_anon_")
	return m
}

// createVolume makes the volume directory dir with its owner project and
// meta.json written, all at once (a temporary directory renamed): a
// crash leaves either no volume or one that names its project, which
// down -v finds.
func createVolume(dir, project string, meta volumeMeta) error {
	if meta.Created.IsZero() {
		meta.Created = time.Now().UTC()
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".new-")
	if err != nil {
		return err
	}
	if err = os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err == nil {
		err = os.WriteFile(filepath.Join(tmp, "project"), []byte(project+"\n"), 0o600)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, "meta.json"), data, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return err
}

// volumeData returns the data directory of volume name for a mount at
// v.Target, creating it if needed. A volume mounted empty is filled with
// what the image holds at the target, unless nocopy is set: Docker does
// this, and database images ship their data directory's ownership this
// way.
func (d *Daemon) volumeData(name, rootfs string, v spec.ServiceVolume, shift image.IDShift) (string, error) {
	data := filepath.Join(d.volumeDir(name), "_data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", err
	}
	if v.Volume != nil && v.Volume.NoCopy {
		return data, nil
	}
	entries, err := os.ReadDir(data)
	if err != nil || len(entries) > 0 {
		return data, err
	}
	src, err := securejoin.SecureJoin(rootfs, v.Target)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(src)
	if err != nil || !fi.IsDir() {
		return data, nil // nothing to copy
	}
	if err := copyTree(src, data, shift); err != nil {
		return "", fmt.Errorf("fill from image: %w", err)
	}
	// The volume's root takes the mode and owner of the image's directory.
	if st, ok := fi.Sys().(*unix.Stat_t); ok {
		uid, gid := shift.Inside(st.Uid, st.Gid)
		os.Lchown(data, int(uid), int(gid))
	}
	return data, os.Chmod(data, fi.Mode().Perm())
}

// copyTree copies the tree at src into dst, keeping modes, owners,
// symlinks and times. A volume holds the owners of the image (a container
// with a user namespace sees it idmapped), so the owners of a root
// filesystem seen in a user namespace's range are shifted back.
func copyTree(src, dst string, shift image.IDShift) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." {
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case e.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // devices, sockets, fifos: not copied
		}
		if st, ok := info.Sys().(*unix.Stat_t); ok {
			uid, gid := shift.Inside(st.Uid, st.Gid)
			os.Lchown(target, int(uid), int(gid))
			if e.Type()&fs.ModeSymlink == 0 {
				os.Chmod(target, info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
			}
			ts := []unix.Timespec{st.Atim, st.Mtim}
			unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// removeVolumes removes the named and anonymous volumes of project but
// those inUse says a container that stays mounts (down SERVICE... -v).
func (d *Daemon) removeVolumes(project string, inUse func(dir string) bool, ev emitFunc) error {
	dirs, err := filepath.Glob(filepath.Join(d.cfg.StateRoot, volumesDir, "*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range dirs {
		name := filepath.Base(dir)
		if strings.HasPrefix(name, ".") {
			continue // a volume being made
		}
		owner, _ := os.ReadFile(filepath.Join(dir, "project"))
		if strings.TrimSpace(string(owner)) != project && !strings.HasPrefix(name, project+"_") {
			continue
		}
		if inUse(dir) {
			ev(api.Event{Type: api.TypeVolume, Volume: name, Action: api.ActionVolumeInUse})
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", name, err))
			continue
		}
		ev(api.Event{Type: api.TypeVolume, Volume: name, Action: api.ActionVolumeRemove})
	}
	return errors.Join(errs...)
}
