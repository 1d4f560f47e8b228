//go:build !stackinit

package runtime

import (
	"errors"
	"fmt"
	"io/fs"
)

// Pids returns the host PIDs of the processes in the container's cgroup,
// sorted: its init, what it started, and processes exec'd into it. A
// container whose cgroup is gone has none.
func (m *Manager) Pids(id string) ([]int, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	cg, err := openCgroupFiles(m.cgroupConfig(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("processes of container %q: %w", id, err)
	}
	pids, err := cg.Procs()
	if err != nil {
		return nil, fmt.Errorf("processes of container %q: %w", id, err)
	}
	return pids, nil
}
