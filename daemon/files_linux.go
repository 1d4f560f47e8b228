package daemon

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// filesDir holds, per container, the files of its secrets and configs.
const filesDir = "files"

func (d *Daemon) fileMountsDir(id string) string {
	return filepath.Join(d.cfg.StateRoot, filesDir, id)
}

// fileMounts writes the service's secrets and configs into files of the
// container's own, with the owner and mode the service asks for (0444 and
// root by default, as compose's), and mounts each read-only at its
// target: /run/secrets/NAME, or /NAME for a config, unless target says
// otherwise (a relative secret target is under /run/secrets, as in
// compose). The content is that of the file (read now: the container
// sees the file as it was when it was created), of the variable, or inline.
// The files are in the state root (0700) and never in a log, an event or
// inspect's output, which shows the mount's target and source path only.
func (d *Daemon) fileMounts(p *spec.Project, svc *spec.Service, id string) ([]specs.Mount, error) {
	if len(svc.Secrets)+len(svc.Configs) == 0 {
		return nil, nil
	}
	dir := d.fileMountsDir(id)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("service %q: secrets: %w", svc.Name, err)
	}
	var mounts []specs.Mount
	for _, kind := range []struct {
		name string
		refs []spec.FileRef
		objs map[string]*spec.FileObj
	}{{"secret", svc.Secrets, p.Secrets}, {"config", svc.Configs, p.Configs}} {
		for i, ref := range kind.refs {
			obj := kind.objs[ref.Source]
			if obj == nil {
				return nil, fmt.Errorf("service %q: %s %q is not defined: %w", svc.Name, kind.name, ref.Source, errdefs.ErrInvalidArgument)
			}
			content, err := fileContent(kind.name, ref.Source, obj)
			if err != nil {
				return nil, fmt.Errorf("service %q: %w", svc.Name, err)
			}
			f := filepath.Join(dir, fmt.Sprintf("%s-%d", kind.name, i))
			if err := writeOwned(f, content, ref); err != nil {
				return nil, fmt.Errorf("service %q: %s %q: %w", svc.Name, kind.name, ref.Source, err)
			}
			mounts = append(mounts, specs.Mount{Destination: fileTarget(kind.name, ref), Type: "bind", Source: f,
				Options: []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}})
		}
	}
	return mounts, nil
}

// fileContent is what a secret or config holds.
func fileContent(kind, name string, obj *spec.FileObj) ([]byte, error) {
	switch {
	case obj.File != "":
		data, err := os.ReadFile(obj.File)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, name, err)
		}
		return data, nil
	case obj.Environment != "":
		if obj.Value == nil {
			// compose's words (pkg/compose/secrets.go).
			return nil, fmt.Errorf("environment variable %q required by %s %q is not set: %w", obj.Environment, kind, name, errdefs.ErrInvalidArgument)
		}
		return []byte(*obj.Value), nil
	}
	return []byte(obj.Content), nil
}

// fileTarget is where a secret or config is mounted.
func fileTarget(kind string, ref spec.FileRef) string {
	t := ref.Target
	switch {
	case t == "" && kind == "secret":
		t = "/run/secrets/" + ref.Source
	case t == "":
		t = "/" + ref.Source
	case !path.IsAbs(t) && kind == "secret":
		t = "/run/secrets/" + t
	}
	return path.Clean("/" + t)
}

// writeOwned writes a secret's file with its owner and mode.
func writeOwned(file string, content []byte, ref spec.FileRef) error {
	mode := os.FileMode(0o444)
	if ref.Mode != nil {
		mode = os.FileMode(*ref.Mode) & os.ModePerm
	}
	uid, gid := 0, 0
	if ref.UID != "" {
		uid, _ = strconv.Atoi(ref.UID)
	}
	if ref.GID != "" {
		gid, _ = strconv.Atoi(ref.GID)
	}
	os.Remove(file)
	if err := os.WriteFile(file, content, 0o600); err != nil {
		return err
	}
	if err := os.Chown(file, uid, gid); err != nil {
		return err
	}
	return os.Chmod(file, mode)
}

// selinuxEnabled reports whether the host enforces SELinux labels: its
// file system is mounted (the test go-selinux and docker make).
func selinuxEnabled() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/selinux", &st) == nil && st.Type == unix.SELINUX_MAGIC
}

// The labels docker gives bind sources marked :z (shared by every
// container) and :Z (this container's own categories).
const (
	selinuxShared  = "system_u:object_r:container_file_t:s0"
	selinuxPrivate = "system_u:object_r:container_file_t:s0:c%d,c%d"
)

// relabel applies a bind mount's :z or :Z to its source where SELinux is
// enabled, as docker does (the tree's security.selinux attribute); on
// other hosts the label means nothing, and the container is told so in one
// warning line.
func (d *Daemon) relabel(svc *spec.Service, r *record, v spec.ServiceVolume) error {
	if v.Bind == nil || v.Bind.SELinux == "" {
		return nil
	}
	if !selinuxEnabled() {
		r.warnings = append(r.warnings, fmt.Sprintf("volume %s:%s: :%s ignored: SELinux is not enabled on this host", v.Source, v.Target, v.Bind.SELinux))
		return nil
	}
	switch v.Source {
	case "/", "/usr", "/etc", "/home", "/var", "/tmp":
		return fmt.Errorf("service %q: will not relabel %s for :%s: %w", svc.Name, v.Source, v.Bind.SELinux, errdefs.ErrInvalidArgument)
	}
	label := selinuxShared
	if v.Bind.SELinux == "Z" {
		c1 := rand.IntN(1024)
		label = fmt.Sprintf(selinuxPrivate, c1, (c1+1+rand.IntN(1023))%1024)
	}
	return filepath.Walk(v.Source, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(p, "security.selinux", []byte(label), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("service %q: relabel %s: %w", svc.Name, p, err)
		}
		return nil
	})
}

// emitWarnings sends the warnings gathered while r was created.
func emitWarnings(r *record, ev emitFunc) {
	for _, w := range r.warnings {
		ev(containerEvent(r, api.ActionWarning, strings.TrimSpace(r.Name+": "+w)))
	}
}
