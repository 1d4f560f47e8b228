package seccomp

import (
	"fmt"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
)

// Default returns Docker's default profile for a container of spec: the
// calls allowed to every container, plus those its capabilities (its
// bounding set) grant, such as mount and umount with CAP_SYS_ADMIN, and
// the architectures of this host.
func Default(spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	p, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		return nil, fmt.Errorf("seccomp: default profile: %w", err)
	}
	return p, nil
}

// LoadProfile reads a profile in Docker's format (the format of Docker's
// default.json: defaultAction, archMap, syscalls with includes and
// excludes) or the OCI runtime spec's, and resolves it for spec's
// capabilities and this host's architecture.
func LoadProfile(data []byte, spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	p, err := seccomp.LoadProfile(string(data), spec)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	if p == nil {
		return nil, fmt.Errorf("seccomp: the profile has no defaultAction and no syscalls: %w", errdefs.ErrInvalidArgument)
	}
	return p, nil
}
