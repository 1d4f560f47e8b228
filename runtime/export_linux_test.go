package runtime

// WithCgroupV2Root makes o drive the cgroup2 hierarchy at root, whatever
// the host's mode.
func WithCgroupV2Root(o Options, root string) Options {
	o.cgroupV2Root = root
	return o
}
