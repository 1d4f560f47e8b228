package spec

import (
	"fmt"
	"path"
	"strings"
)

// ParseVolumeSpec parses a service volume in short syntax,
// [SOURCE:]TARGET[:MODE]. A SOURCE that starts with '.', '/' or '~' is a
// bind mount (the caller resolves it to an absolute path); another SOURCE
// names a volume; no SOURCE makes an anonymous volume. MODE is a comma list
// of rw, ro, nocopy, a propagation (shared, slave, private and their r*
// forms), an SELinux label z (shared) or Z (private) and consistency
// hints, the last without effect here. As in compose, the label applies to
// bind mounts only, and the target is cleaned ("/data/" is "/data").
func ParseVolumeSpec(s string) (ServiceVolume, error) {
	parts := strings.Split(s, ":")
	var v ServiceVolume
	var mode string
	switch len(parts) {
	case 1:
		v.Target = parts[0]
	case 2:
		if strings.HasPrefix(parts[1], "/") || isPathSource(parts[0]) {
			v.Source, v.Target = parts[0], parts[1]
		} else {
			v.Target, mode = parts[0], parts[1]
		}
	case 3:
		v.Source, v.Target, mode = parts[0], parts[1], parts[2]
	default:
		return v, fmt.Errorf("invalid volume %q: want [SOURCE:]TARGET[:MODE]", s)
	}
	if v.Target == "" || !strings.HasPrefix(v.Target, "/") {
		return v, fmt.Errorf("invalid volume %q: the target %q must be an absolute path in the container", s, v.Target)
	}
	v.Target = path.Clean(v.Target)
	switch {
	case v.Source == "":
		v.Type = VolumeTypeVolume
	case isPathSource(v.Source):
		v.Type = VolumeTypeBind
		v.Bind = &BindOptions{CreateHostPath: true}
	default:
		v.Type = VolumeTypeVolume
	}
	if mode == "" {
		return v, nil
	}
	for _, opt := range strings.Split(mode, ",") {
		switch opt {
		case "rw":
		case "ro":
			v.ReadOnly = true
		case "nocopy":
			if v.Type != VolumeTypeVolume {
				return v, fmt.Errorf("invalid volume %q: nocopy applies to volumes, not bind mounts", s)
			}
			v.Volume = &VolumeOptions{NoCopy: true}
		case "shared", "rshared", "slave", "rslave", "private", "rprivate":
			if v.Type != VolumeTypeBind {
				return v, fmt.Errorf("invalid volume %q: propagation %s applies to bind mounts only", s, opt)
			}
			v.Bind.Propagation = opt
		case "z", "Z":
			if v.Type == VolumeTypeBind {
				v.Bind.SELinux = opt
			}
		case "cached", "delegated", "consistent":
		default:
			return v, fmt.Errorf("invalid volume %q: unknown mode %q (want ro, rw, nocopy or a propagation such as rprivate)", s, opt)
		}
	}
	return v, nil
}

// isPathSource reports whether a short-syntax volume source is a host path
// rather than a volume name.
func isPathSource(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~")
}
