//go:build !stackinit

package runtime

import "fmt"

// Pids returns the host PIDs of the processes in the container's cgroup,
// sorted: its init, what it started, and processes exec'd into it. A
// container whose cgroup is gone has none.
func (m *Manager) Pids(id string) ([]int, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	cg, err := loadCgroup(m.cgroupConfig(id))
	if err != nil {
		return nil, fmt.Errorf("processes of container %q: %w", id, err)
	}
	pids, err := cg.Procs()
	if err != nil {
		return nil, fmt.Errorf("processes of container %q: %w", id, err)
	}
	return pids, nil
}
