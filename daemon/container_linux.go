package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// rootfsDir is where a container's storage (overlay upper and work dirs,
// mount point) lives.
const rootfsDir = "rootfs"

// containerRequest describes one container to create from a service.
type containerRequest struct {
	// ID names the container; it must be a valid path component. Required.
	ID string
	// Service is the service to run. Required.
	Service *spec.Service
	// Image is the image reference; Service.Image when empty.
	Image string
	// Command replaces the service's command (stack run). Optional.
	Command []string
	// NetNS is a network namespace to join. Optional: a new empty one.
	NetNS string
}

// createContainer assembles a container's root filesystem from its
// image's layers and creates it in the runtime, ready to start. On error
// nothing of it is left behind.
func (d *Daemon) createContainer(ctx context.Context, req containerRequest) (retErr error) {
	storage, rt, err := d.engines()
	if err != nil {
		return err
	}
	ref := req.Image
	if ref == "" {
		ref = req.Service.Image
	}
	img, err := d.images.Rootfs(ctx, ref)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("service %q: image %s is not here: import it with `stack image import`: %w", req.Service.Name, ref, err)
		}
		return fmt.Errorf("service %q: image %s: %w", req.Service.Name, ref, err)
	}
	dir := filepath.Join(d.cfg.StateRoot, rootfsDir, req.ID)
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return fmt.Errorf("create container %s: %w", req.ID, err)
	}
	rootfs, err := storage.Mount(ctx, dir, img.Layers)
	if err != nil {
		return fmt.Errorf("create container %s: mount rootfs: %w", req.ID, err)
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, storage.Unmount(dir), storage.Remove(dir))
		}
	}()
	mounts, err := serviceMounts(req.Service)
	if err != nil {
		return err
	}
	s, err := buildSpec(specInput{
		Service:  req.Service,
		Image:    img.Config,
		Rootfs:   rootfs,
		Hostname: shortContainerID(req.ID),
		Mounts:   mounts,
		Command:  req.Command,
	})
	if err != nil {
		return err
	}
	init := req.Service.Init != nil && *req.Service.Init
	if err := rt.Create(ctx, req.ID, runtime.Config{Spec: s, Rootfs: rootfs, NetNS: req.NetNS, Init: init}); err != nil {
		return fmt.Errorf("create container %s: %w", req.ID, err)
	}
	return nil
}

// removeContainer deletes a container and its storage, doing as much as
// it can even when a step fails.
func (d *Daemon) removeContainer(ctx context.Context, id string) error {
	storage, rt, err := d.engines()
	if err != nil {
		return err
	}
	dir := filepath.Join(d.cfg.StateRoot, rootfsDir, id)
	var errs []error
	if err := rt.Delete(ctx, id, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		errs = append(errs, err)
	}
	if err := storage.Unmount(dir); err != nil {
		errs = append(errs, err)
	}
	if err := storage.Remove(dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// serviceMounts turns the service's bind and tmpfs volumes into OCI
// mounts. Named volumes come with the volume store (issue 5).
func serviceMounts(svc *spec.Service) ([]specs.Mount, error) {
	var mounts []specs.Mount
	for _, v := range svc.Volumes {
		switch v.Type {
		case spec.VolumeTypeBind:
			opts := []string{"rbind"}
			if v.ReadOnly {
				opts = append(opts, "ro")
			}
			prop := "rprivate"
			if v.Bind != nil && v.Bind.Propagation != "" {
				prop = v.Bind.Propagation
			}
			opts = append(opts, prop)
			if v.Bind != nil && v.Bind.CreateHostPath {
				if _, err := os.Stat(v.Source); errors.Is(err, os.ErrNotExist) {
					if err := os.MkdirAll(v.Source, 0o755); err != nil {
						return nil, fmt.Errorf("service %q: create bind source %s: %w", svc.Name, v.Source, err)
					}
				}
			}
			mounts = append(mounts, specs.Mount{Destination: v.Target, Type: "bind", Source: v.Source, Options: opts})
		case spec.VolumeTypeTmpfs:
			opts := []string{"nosuid", "nodev", "noexec"}
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", v.Tmpfs.Size))
			}
			if v.Tmpfs != nil && v.Tmpfs.Mode != 0 {
				opts = append(opts, fmt.Sprintf("mode=%o", v.Tmpfs.Mode))
			}
			if v.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: v.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			return nil, fmt.Errorf("service %q: volume %s: named volumes arrive with the engine: %w", svc.Name, v.Target, errdefs.ErrNotImplemented)
		}
	}
	return mounts, nil
}

// shortContainerID is the hostname Docker gives a container that sets
// none: the first 12 characters of its id.
func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
