package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

// projectsDir holds one directory per project, with a record per
// container.
const projectsDir = "projects"

// record is what the daemon knows of one container beyond the runtime's
// state: which project and service it belongs to, the config it was made
// from, and what the user asked of it. It is the daemon's "labels".
type record struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Project string `json:"project"`
	Service string `json:"service"`
	Number  int    `json:"number"`
	// DependsOn names the services this one depends on, so that down
	// stops dependents first without the stack file.
	DependsOn []string `json:"depends_on,omitempty"`
	// OneOff marks a container of `stack run`: not a replica of its
	// service, so the planner does not see it.
	OneOff     bool      `json:"one_off,omitempty"`
	ConfigHash string    `json:"config_hash"`
	Image      string    `json:"image"`
	ImageID    string    `json:"image_id"`
	Created    time.Time `json:"created"`
	// Spec, Rootfs, NetNS and Init recreate the runtime container when it
	// restarts: a runtime container runs once.
	Spec   *specs.Spec `json:"spec"`
	Rootfs string      `json:"rootfs"`
	NetNS  string      `json:"netns,omitempty"`
	Init   bool        `json:"init,omitempty"`
	// Restart is the restart policy; StoppedByUser keeps a stopped
	// container stopped whatever the policy (docker's "manually stopped").
	Restart       string `json:"restart,omitempty"`
	StoppedByUser bool   `json:"stopped_by_user,omitempty"`
	RestartCount  int    `json:"restart_count,omitempty"`
	// Healthcheck is the container's health check, nil when it has none.
	Healthcheck *healthConfig `json:"healthcheck,omitempty"`
	// Health is "", "starting", "healthy" or "unhealthy".
	Health       string `json:"health,omitempty"`
	HealthOutput string `json:"health_output,omitempty"`
	// Networks maps each network to the container's address on it.
	Networks map[string]string `json:"networks,omitempty"`
	Ports    []recordPort      `json:"ports,omitempty"`
	// StopSignal and StopGrace are the service's stop settings.
	StopSignal string        `json:"stop_signal,omitempty"`
	StopGrace  time.Duration `json:"stop_grace,omitempty"`
}

type recordPort struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

func (d *Daemon) recordPath(project, name string) string {
	return filepath.Join(d.cfg.StateRoot, projectsDir, project, name+".json")
}

// saveRecord writes r atomically: a crash leaves the old or the new record,
// never half of one.
func (d *Daemon) saveRecord(r *record) error {
	if err := errors.Join(ident.Project(r.Project), ident.Name("container name", r.Name)); err != nil {
		return fmt.Errorf("save record: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode record of %s: %w", r.Name, err)
	}
	path := d.recordPath(r.Project, r.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save record of %s: %w", r.Name, err)
	}
	return writeFileAtomic(path, data, 0o600)
}

func (d *Daemon) removeRecord(r *record) error {
	err := os.Remove(d.recordPath(r.Project, r.Name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove record of %s: %w", r.Name, err)
	}
	os.Remove(filepath.Dir(d.recordPath(r.Project, r.Name))) // the project's directory, once empty
	return nil
}

// records returns the containers of project, sorted by name; every
// project's when project is "". Only directories and files whose names
// are valid project and container names are read: nothing planted in the
// state root under another name is taken for a container.
func (d *Daemon) records(project string) ([]*record, error) {
	root := filepath.Join(d.cfg.StateRoot, projectsDir)
	projects := []string{project}
	if project == "" {
		ents, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read container records: %w", err)
		}
		projects = projects[:0]
		for _, e := range ents {
			projects = append(projects, e.Name())
		}
	}
	var files []string
	for _, p := range projects {
		if ident.Project(p) != nil {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(root, p))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read container records: %w", err)
		}
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".json")
			if ok && e.Type().IsRegular() && ident.Name("container name", name) == nil {
				files = append(files, filepath.Join(root, p, e.Name()))
			}
		}
	}
	var out []*record
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read container record: %w", err)
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			d.log.Warn("skipping a corrupt container record", "file", f, "err", err)
			continue
		}
		out = append(out, &r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Project != out[j].Project {
			return out[i].Project < out[j].Project
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// findRecord returns the record of a container by name or ID prefix.
func (d *Daemon) findRecord(project, nameOrID string) (*record, error) {
	recs, err := d.records(project)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Name == nameOrID || strings.HasPrefix(r.ID, nameOrID) && len(nameOrID) >= 4 {
			return r, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", ident.Quote(nameOrID), errdefs.ErrNotFound)
}

// newContainerID returns a random 64-hex-digit id, as docker's.
func newContainerID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
