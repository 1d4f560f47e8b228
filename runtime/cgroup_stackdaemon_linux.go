//go:build stackdaemon && !stackinit

package runtime

import (
	"errors"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// stack-daemon leaves the shim's side of cgroups out (cgroupfs_linux.go):
// it runs containers' shims from stack-shim, and refuses to be one.
var errNotShim = errors.New("stack-daemon cannot be a container's shim: install stack-shim beside it")

func createCgroup(cgroupConfig, *specs.LinuxResources) (cgroup, error) { return nil, errNotShim }

func enterCgroupThread(cgroup) func() error { return nil }
