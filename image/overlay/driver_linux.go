package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

// Storage driver names, as `stack info` shows them.
const (
	NameOverlay = "overlay"
	NameCopy    = "copy"
)

// Names inside a container directory and the driver root.
const (
	upperDir   = "upper"
	workDir    = "work"
	rootfsDir  = "rootfs"
	emptyDir   = "empty"
	linkDir    = "l"
	driverFile = "driver"
)

// Driver prepares container root filesystems from image layer
// directories (lowest first, as image.Rootfs returns them). A container
// directory belongs to one driver for its whole life.
type Driver interface {
	// Name returns NameOverlay or NameCopy.
	Name() string
	// Mount makes dir/rootfs the container's root filesystem and returns
	// its path. dir is created if needed and must be absolute. Mount is
	// idempotent: an already mounted dir is returned as it is, and
	// mounting again after Unmount keeps the container's changes.
	Mount(ctx context.Context, dir string, layers []string) (string, error)
	// MountIDMapped is Mount for a container with a user namespace whose
	// IDs 0..m.Size-1 are the host's m.UID... and m.GID...: the layers
	// are idmapped (a file of the image's uid u shows as m.UID+u, with no
	// chown of the layers), the upper directory is not, so what the
	// container writes is owned by its host range (a setuid-root binary it
	// writes is setuid to m.UID). The map is recorded in dir, which keeps
	// it for its life; Diff shifts the owners back.
	MountIDMapped(ctx context.Context, dir string, layers []string, m image.IDShift) (string, error)
	// Unmount unmounts dir/rootfs, keeping the container's changes. It is
	// not an error if nothing is mounted.
	Unmount(dir string) error
	// Remove unmounts and deletes dir.
	Remove(dir string) error
	// Usage measures what the container has written (`ps --size`).
	Usage(dir string) (Usage, error)
	// Diff writes the container's changes as a layer tar, whiteouts in the
	// ".wh." form (for commit).
	Diff(ctx context.Context, dir string, w io.Writer) error
}

// Usage is the space a container's own changes take.
type Usage struct {
	Size      int64 // apparent size of the files, as docker's SizeRw
	DiskUsage int64 // allocated blocks in bytes, as du(1) reports
	Inodes    int64
}

// Config configures [New].
type Config struct {
	// Root is the driver's state directory (e.g. /var/lib/stack/overlay),
	// on the same filesystem as the container directories. Required.
	Root string
	// Driver forces NameOverlay or NameCopy. Optional: by default the
	// choice recorded in Root is kept, or a probe mount decides.
	Driver string
	// Logger receives the warning when overlayfs is unusable. Optional.
	Logger *slog.Logger
}

// New returns the storage driver for cfg. Without cfg.Driver it uses the
// driver recorded in cfg.Root by an earlier New, or probes once whether
// overlayfs can be mounted there and records the result; when it cannot,
// it logs a warning and returns the copying driver.
func New(cfg Config) (Driver, error) {
	if cfg.Root == "" || !filepath.IsAbs(cfg.Root) {
		return nil, fmt.Errorf("storage driver root %q must be an absolute path: %w", cfg.Root, errdefs.ErrInvalidArgument)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Root, linkDir), 0o700); err != nil {
		return nil, fmt.Errorf("create storage driver root: %w", err)
	}
	name := cfg.Driver
	if name == "" {
		b, err := os.ReadFile(filepath.Join(cfg.Root, driverFile))
		switch {
		case err == nil:
			name = strings.TrimSpace(string(b))
		case errors.Is(err, fs.ErrNotExist):
			name = NameOverlay
			if perr := probe(cfg.Root); perr != nil {
				log.Warn("overlayfs is not usable, falling back to the copying storage driver: containers will be slower to create and use more disk",
					"root", cfg.Root, "err", perr)
				name = NameCopy
			}
			if err := os.WriteFile(filepath.Join(cfg.Root, driverFile), []byte(name+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("record storage driver: %w", err)
			}
		default:
			return nil, fmt.Errorf("read storage driver choice: %w", err)
		}
	}
	switch name {
	case NameOverlay:
		return newOverlay(cfg.Root), nil
	case NameCopy:
		return copyDriver{}, nil
	}
	return nil, fmt.Errorf("storage driver %q: %w", name, errdefs.ErrInvalidArgument)
}

// checkDir validates a container directory: absolute, and free of the
// characters that separate overlay mount options.
func checkDir(dir string) error {
	if !filepath.IsAbs(dir) || strings.ContainsAny(dir, ",:\\") {
		return fmt.Errorf("container directory %q must be absolute and contain no ',', ':' or '\\': %w", dir, errdefs.ErrInvalidArgument)
	}
	return nil
}
