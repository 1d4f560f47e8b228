package runtime

import "path/filepath"

// WithCgroupV2Root makes o drive the cgroup2 hierarchy at root, whatever
// the host's mode.
func WithCgroupV2Root(o Options, root string) Options {
	o.cgroupV2Root = root
	return o
}

// Retire tells the container's shim that the Manager has removed it, as
// cleanup does, but kills nothing first: as a cleanup that ran while the
// shim was still creating the container, and so found no process.
func Retire(m *Manager, id string) error {
	dir, err := m.dir(id)
	if err != nil {
		return err
	}
	var b bundle
	if err := readJSON(filepath.Join(dir, bundleFile), &b); err != nil {
		return err
	}
	var st State
	if err := readJSON(filepath.Join(dir, stateFile), &st); err != nil {
		return err
	}
	m.retire(b.Group, dir, st.ShimPid, st.ShimStart)
	return nil
}

// StartGroupShim starts the shim of group, with no container to serve:
// as a daemon that died before its first request did.
func StartGroupShim(m *Manager, group string) error {
	c, err := m.dialGroup(group)
	if err != nil {
		return err
	}
	return c.Close()
}

// RetireInGroup tells the shim of group that container id was removed.
func RetireInGroup(m *Manager, group, id string) {
	m.retire(group, filepath.Join(m.root, id), 0, 0)
}
