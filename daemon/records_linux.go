package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
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
	// RestartDelay is the back-off before the last restart of the
	// policy: 100ms, doubled at each exit that follows a run shorter
	// than 10s, up to a minute, as Docker's restart manager does.
	RestartDelay time.Duration `json:"restart_delay,omitempty"`
	// ExitCode and Finished are those of the last run that ended, kept
	// for when no runtime state holds them (between runs).
	ExitCode int       `json:"exit_code,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
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
	// State is stateCreating until the container exists, stateRemoving
	// once its teardown began, empty otherwise.
	State string `json:"state,omitempty"`
	// Run counts the container's runs; a health watch updates the record
	// only for the run it watches.
	Run int `json:"run,omitempty"`
	// Log is where the container's shim writes its output, across runs.
	Log runtime.LogConfig `json:"log"`
	// Labels are the container's labels: its service's with compose's
	// (com.docker.compose.project, ...), or what a Docker API client
	// gave.
	Labels map[string]string `json:"labels,omitempty"`
	// Entrypoint and Cmd are the two halves of the process's arguments,
	// as docker inspect shows them; User is the user as asked ("" for the
	// image's).
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	User       string   `json:"user,omitempty"`
	// ExposedPorts are the container ports the image and the service
	// expose ("80/tcp").
	ExposedPorts []string `json:"exposed_ports,omitempty"`
	// Aliases maps each network to the container's aliases on it.
	Aliases map[string][]string `json:"aliases,omitempty"`
	// NetworkMode is the service's network_mode: "" for its networks,
	// "none", "service:NAME" or "container:ID".
	NetworkMode string `json:"network_mode,omitempty"`
	// OpenStdin keeps the terminal's input open for attach (docker run
	// -i); only a container with a terminal has one.
	OpenStdin bool `json:"open_stdin,omitempty"`
	// AutoRemove removes the container once it exits (docker run --rm).
	AutoRemove bool `json:"auto_remove,omitempty"`
	// AnonVolumes maps the target of each anonymous volume (the stack
	// file's "- /data" and the image's VOLUME) to the volume's name. A
	// container that replaces this one takes them over, as compose's
	// does, unless up -V renews them.
	AnonVolumes map[string]string `json:"anon_volumes,omitempty"`
	// UserNS is the container's range of host uids and gids, nil when it
	// runs in the host's user namespace. It is set, and the record
	// written, before anything of the container exists (see
	// userns_linux.go): the records are the allocation table.
	UserNS *usernsRange `json:"userns,omitempty"`
	// UseAliases gives a one-off container its service's name and
	// network aliases in DNS (run --use-aliases); a service's own
	// containers always have them.
	UseAliases bool `json:"use_aliases,omitempty"`
	// warnings are said once the container is created (an :z on a host
	// without SELinux); they are not kept.
	warnings []string
}

type recordPort struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

// Record states. A record is written before anything of its container
// exists (creating) and marked before its teardown starts (removing), so
// a crash at any point leaves a record that names what may exist: the
// daemon's next start finishes the teardown of both, and down does too.
// Every host resource of a container is named after its ID (its overlay
// mount, runtime state and cgroup, network namespace, veths, addresses,
// rules, /etc files and log), so the record is the journal entry of all
// of them.
const (
	stateCreating = "creating"
	stateRemoving = "removing"
)

// recordStore is the one owner of the containers' records: readers get
// copies, writers go through put and update under one mutex, and a change
// is on disk (temporary file, rename) before it returns. It is loaded
// once, when the daemon starts; nothing else writes the files.
type recordStore struct {
	root string // <state root>/projects
	mu   sync.Mutex
	recs map[recordKey]*record
}

type recordKey struct{ project, name string }

// loadRecords reads every record under root, removing the temporary files
// a crash left mid-write. Only directories and files whose names are valid
// project and container names are read: nothing planted in the state root
// under another name is taken for a container.
func loadRecords(root string, log *slog.Logger) (*recordStore, error) {
	s := &recordStore{root: root, recs: map[recordKey]*record{}}
	projects, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read container records: %w", err)
	}
	for _, pd := range projects {
		if !pd.IsDir() || recordProject(pd.Name()) != nil {
			continue
		}
		dir := filepath.Join(root, pd.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read container records: %w", err)
		}
		for _, e := range ents {
			path := filepath.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp") {
				os.Remove(path) // a write cut short by a crash
				continue
			}
			name, ok := strings.CutSuffix(e.Name(), ".json")
			if !ok || !e.Type().IsRegular() || ident.Name("container name", name) != nil {
				continue
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read container record: %w", err)
			}
			var r record
			if err := json.Unmarshal(data, &r); err != nil || r.Project != pd.Name() || r.Name != name {
				log.Warn("skipping a corrupt container record", "file", path, "err", err)
				continue
			}
			s.recs[recordKey{r.Project, r.Name}] = &r
		}
		os.Remove(dir) // once empty
	}
	return s, nil
}

// recordProject checks the project of a record: a project's name, or
// standaloneProject for the containers of none.
func recordProject(p string) error {
	if p == standaloneProject {
		return nil
	}
	return ident.Project(p)
}

func (s *recordStore) path(project, name string) string {
	return filepath.Join(s.root, project, name+".json")
}

// list returns copies of the records of project (all when ""), sorted by
// project and name.
func (s *recordStore) list(project string) []*record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*record
	for k, r := range s.recs {
		if project == "" || k.project == project {
			out = append(out, r.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Project != out[j].Project {
			return out[i].Project < out[j].Project
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// put writes r, new or replacing the record of its name. durable syncs it
// to disk: a container that exists is worth a power loss; an intent,
// health or removal mark is not (a crash of the process loses nothing
// the page cache holds, and a power loss takes every container with it).
func (s *recordStore) put(r *record, durable bool) error {
	if err := errors.Join(recordProject(r.Project), ident.Name("container name", r.Name)); err != nil {
		return fmt.Errorf("save record: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.write(r, durable); err != nil {
		return err
	}
	s.recs[recordKey{r.Project, r.Name}] = r.clone()
	return nil
}

// update applies fn to the record of project/name under the lock and
// writes the result; fn's error (errStale from a watch of an older run,
// for one) leaves the record as it was. The change stands in memory even
// when the disk refuses it (full): the daemon's view stays true (an exit
// code, a health status) and the next write carries it; the write's
// error is returned with the record when the change had to be durable.
func (s *recordStore) update(project, name string, durable bool, fn func(*record) error) (*record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.recs[recordKey{project, name}]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", ident.Quote(name), errdefs.ErrNotFound)
	}
	r := cur.clone()
	if err := fn(r); err != nil {
		return nil, err
	}
	err := s.write(r, durable)
	s.recs[recordKey{project, name}] = r
	if !durable {
		err = nil
	}
	return r.clone(), err
}

// remove deletes the record of project/name, and its project directory
// once empty.
func (s *recordStore) remove(project, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(s.path(project, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove record of %s: %w", name, err)
	}
	delete(s.recs, recordKey{project, name})
	os.Remove(filepath.Dir(s.path(project, name)))
	return nil
}

func (s *recordStore) write(r *record, durable bool) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode record of %s: %w", r.Name, err)
	}
	path := s.path(r.Project, r.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save record of %s: %w", r.Name, err)
	}
	if err := writeFileAtomic(path, data, 0o600, durable); err != nil {
		return fmt.Errorf("save record of %s: %w", r.Name, err)
	}
	return nil
}

// clone copies r deeply enough for its holder to change it: its maps and
// slices. Spec and Healthcheck are set when the container is created and
// never changed afterwards, so copies share them.
func (r *record) clone() *record {
	c := *r
	c.DependsOn = slices.Clone(r.DependsOn)
	c.Networks = maps.Clone(r.Networks)
	c.Ports = slices.Clone(r.Ports)
	c.Labels = maps.Clone(r.Labels)
	c.Aliases = maps.Clone(r.Aliases)
	c.AnonVolumes = maps.Clone(r.AnonVolumes)
	if r.UserNS != nil {
		u := *r.UserNS
		c.UserNS = &u
	}
	return &c
}

// errStale is returned by an update of a watch whose run has ended: the
// container was restarted or recreated since.
var errStale = errors.New("record changed since")

func (d *Daemon) saveRecord(r *record) error { return d.store.put(r, true) }

// updateRecord changes the record of r's container through fn.
func (d *Daemon) updateRecord(project, name string, fn func(*record) error) (*record, error) {
	return d.store.update(project, name, true, fn)
}

func (d *Daemon) removeRecord(r *record) error { return d.store.remove(r.Project, r.Name) }

// records returns the containers of project, sorted by name; every
// project's when project is "".
func (d *Daemon) records(project string) ([]*record, error) {
	return d.store.list(project), nil
}

// findRecord returns the record of a container by name or ID prefix.
func (d *Daemon) findRecord(project, nameOrID string) (*record, error) {
	for _, r := range d.store.list(project) {
		if r.Name == nameOrID || strings.HasPrefix(r.ID, nameOrID) && len(nameOrID) >= 4 {
			return r, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", ident.Quote(nameOrID), errdefs.ErrNotFound)
}

// recordByID returns the record of the container id.
func (d *Daemon) recordByID(id string) (*record, error) {
	for _, r := range d.store.list("") {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
}

// newContainerID returns a random 64-hex-digit id, as docker's.
func newContainerID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, syncing the file first when durable.
func writeFileAtomic(path string, data []byte, mode os.FileMode, durable bool) error {
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
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
