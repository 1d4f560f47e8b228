package overlay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
)

// shortIDLen is the length of a layer's link name under l/: 12 hex
// characters (48 bits) make a collision between the layers of one machine
// improbable, and "l/<id>:" costs 15 bytes of the one-page option string.
const shortIDLen = 12

type overlayDriver struct {
	root string
	// extra mount options the kernel supports, decided once.
	extra string
}

func newOverlay(root string) *overlayDriver {
	d := &overlayDriver{root: root}
	// With the inodes index on, a lower layer shared by several mounts
	// can be refused (EBUSY) or bound to one upper; docker and containerd
	// turn it off where the kernel knows the option.
	if _, err := os.Stat("/sys/module/overlay/parameters/index"); err == nil {
		d.extra = ",index=off"
	}
	return d
}

func (d *overlayDriver) Name() string { return NameOverlay }

// link returns the short name, relative to the driver root, of a symlink
// to layer, creating the symlink if needed.
func (d *overlayDriver) link(layer string) (string, error) {
	sum := sha256.Sum256([]byte(layer))
	id := hex.EncodeToString(sum[:])[:shortIDLen]
	rel := filepath.Join(linkDir, id)
	p := filepath.Join(d.root, rel)
	if cur, err := os.Readlink(p); err == nil {
		if cur == layer {
			return rel, nil
		}
		return "", fmt.Errorf("layer link %s points at %s, not %s: %w", p, cur, layer, errdefs.ErrFailedPrecondition)
	}
	// Create under a temporary name and rename, so that a concurrent
	// Mount sees the link complete or not at all.
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := p + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := os.Symlink(layer, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return rel, nil
}

func (d *overlayDriver) Mount(ctx context.Context, dir string, layers []string) (_ string, retErr error) {
	if err := checkDir(dir); err != nil {
		return "", err
	}
	target := filepath.Join(dir, rootfsDir)
	for _, sub := range []string{upperDir, workDir, rootfsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	if ok, err := isMounted(target); err != nil || ok {
		return target, err
	}
	lowers := make([]string, 0, len(layers))
	for _, l := range slices.Backward(layers) { // overlay wants the top-most first
		if !filepath.IsAbs(l) {
			return "", fmt.Errorf("layer directory %q is not absolute: %w", l, errdefs.ErrInvalidArgument)
		}
		rel, err := d.link(l)
		if err != nil {
			return "", err
		}
		lowers = append(lowers, rel)
	}
	if len(lowers) == 0 {
		// An image without layers still needs a lower directory.
		empty := filepath.Join(dir, emptyDir)
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", err
		}
		lowers = append(lowers, empty)
	}
	data := "lowerdir=" + strings.Join(lowers, ":") +
		",upperdir=" + filepath.Join(dir, upperDir) +
		",workdir=" + filepath.Join(dir, workDir) + d.extra
	if limit := unix.Getpagesize() - 1; len(data) > limit {
		return "", fmt.Errorf("mount %s: %d layers make %d bytes of mount options, more than the kernel's %d: %w",
			target, len(layers), len(data), limit, errdefs.ErrInvalidArgument)
	}
	if err := mountAt(d.root, "overlay", target, "overlay", 0, data); err != nil {
		return "", err
	}
	return target, nil
}

func (d *overlayDriver) Unmount(dir string) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	return unmount(filepath.Join(dir, rootfsDir))
}

func (d *overlayDriver) Remove(dir string) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	if err := unmount(filepath.Join(dir, rootfsDir)); err != nil {
		return err
	}
	if err := detachLayers(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// detachLayers detaches the idmapped layers a MountIDMapped killed before
// its end left attached under dir/layers: read-only mounts that would
// fail the removal of dir.
func detachLayers(dir string) error {
	ents, err := os.ReadDir(filepath.Join(dir, layersDir))
	if err != nil {
		return nil // none
	}
	for _, e := range ents {
		p := filepath.Join(dir, layersDir, e.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return &MountError{Op: "umount", Target: p, Err: err}
		}
	}
	return nil
}

func (d *overlayDriver) Usage(dir string) (Usage, error) {
	return usage(filepath.Join(dir, upperDir))
}

// Diff writes the upper directory, with overlay whiteouts converted back
// to ".wh." entries. It reads the upper directory directly, so the
// container may be mounted or not; it should not be running.
func (d *overlayDriver) Diff(ctx context.Context, dir string, w io.Writer) error {
	return image.WriteLayerTar(ctx, w, filepath.Join(dir, upperDir), image.LayerTarOptions{OverlayWhiteouts: true, Unshift: readIDMap(dir)})
}

// probe mounts a throwaway overlay under root to learn whether the
// filesystem supports overlayfs upper directories.
func probe(root string) error {
	dir, err := os.MkdirTemp(root, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, sub := range []string{"lower", upperDir, workDir, rootfsDir} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	target := filepath.Join(dir, rootfsDir)
	data := "lowerdir=" + filepath.Join(dir, "lower") + ",upperdir=" + filepath.Join(dir, upperDir) + ",workdir=" + filepath.Join(dir, workDir)
	if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
		return &MountError{Op: "mount", Source: "overlay", Target: target, FSType: "overlay", Data: data, Err: err}
	}
	return unmount(target)
}

// idmapFile records, in a container directory, the map its layers were
// mounted with (MountIDMapped): "UID GID SIZE".
const idmapFile = "idmap"

// layersDir holds, during an idmapped mount, the idmapped copies of the
// layers that the overlay takes as lower directories.
const layersDir = "layers"

func (d *overlayDriver) MountIDMapped(ctx context.Context, dir string, layers []string, m image.IDShift) (_ string, retErr error) {
	if err := checkDir(dir); err != nil {
		return "", err
	}
	if m.Size == 0 {
		return "", fmt.Errorf("idmapped mount of %s: an empty map: %w", dir, errdefs.ErrInvalidArgument)
	}
	target := filepath.Join(dir, rootfsDir)
	if err := recordIDMap(dir, m); err != nil {
		return "", err
	}
	for _, sub := range []string{upperDir, workDir, rootfsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	if ok, err := isMounted(target); err != nil || ok {
		return target, err
	}
	// The container's root owns the top of what it writes, as the image's
	// root owns the top of its layers.
	for _, sub := range []string{upperDir, workDir} {
		if err := os.Lchown(filepath.Join(dir, sub), int(m.UID), int(m.GID)); err != nil {
			return "", err
		}
	}
	if len(layers) == 0 {
		empty := filepath.Join(dir, emptyDir)
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", err
		}
		layers = []string{empty}
	}
	ns, err := linux.NewUserNS([]linux.IDMap{{Inside: 0, Host: m.UID, Size: m.Size}}, []linux.IDMap{{Inside: 0, Host: m.GID, Size: m.Size}})
	if err != nil {
		return "", fmt.Errorf("idmap layers of %s: %w", dir, err)
	}
	defer ns.Close()
	// Each layer's idmapped copy is attached under dir/layers/N only until
	// the overlay is mounted (it keeps private clones of its layers), so
	// that the options name short relative paths, as with d.link.
	ldir := filepath.Join(dir, layersDir)
	if err := detachLayers(dir); err != nil {
		return "", err
	}
	if err := os.RemoveAll(ldir); err != nil {
		return "", err
	}
	if err := os.Mkdir(ldir, 0o700); err != nil {
		return "", err
	}
	var attached []string
	defer func() {
		for _, p := range attached {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && retErr == nil {
				retErr = &MountError{Op: "umount", Target: p, Err: err}
			}
		}
		if err := os.RemoveAll(ldir); err != nil && retErr == nil {
			retErr = err
		}
	}()
	lowers := make([]string, 0, len(layers))
	for i, l := range slices.Backward(layers) { // overlay wants the top-most first
		if !filepath.IsAbs(l) {
			return "", fmt.Errorf("layer directory %q is not absolute: %w", l, errdefs.ErrInvalidArgument)
		}
		rel := filepath.Join(layersDir, strconv.Itoa(i))
		p := filepath.Join(dir, rel)
		if err := os.Mkdir(p, 0o700); err != nil {
			return "", err
		}
		if err := attachIDMapped(l, p, ns); err != nil {
			return "", fmt.Errorf("idmap layer %s: %w", l, err)
		}
		attached = append(attached, p)
		lowers = append(lowers, rel)
	}
	data := "lowerdir=" + strings.Join(lowers, ":") +
		",upperdir=" + filepath.Join(dir, upperDir) +
		",workdir=" + filepath.Join(dir, workDir) + d.extra
	if limit := unix.Getpagesize() - 1; len(data) > limit {
		return "", fmt.Errorf("mount %s: %d layers make %d bytes of mount options, more than the kernel's %d: %w",
			target, len(layers), len(data), limit, errdefs.ErrInvalidArgument)
	}
	if err := mountAt(dir, "overlay", target, "overlay", 0, data); err != nil {
		return "", fmt.Errorf("%w (idmapped layers need overlayfs of Linux 5.19 or later)", err)
	}
	return target, nil
}

// attachIDMapped mounts an idmapped copy of the directory src at dst.
func attachIDMapped(src, dst string, userns *os.File) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return &os.PathError{Op: "open_tree", Path: src, Err: err}
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mount_setattr %s: %w (the image store's file system cannot be idmapped: run the service with userns_mode: host)", src, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "move_mount", Path: dst, Err: err}
	}
	return nil
}

// recordIDMap writes m to dir, or checks that dir has it already: a
// container directory keeps one map for its whole life.
func recordIDMap(dir string, m image.IDShift) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	want := fmt.Sprintf("%d %d %d\n", m.UID, m.GID, m.Size)
	p := filepath.Join(dir, idmapFile)
	if b, err := os.ReadFile(p); err == nil {
		if string(b) != want {
			return fmt.Errorf("container directory %s was mounted with the map %q, not %q: %w", dir, strings.TrimSpace(string(b)), strings.TrimSpace(want), errdefs.ErrFailedPrecondition)
		}
		return nil
	}
	return os.WriteFile(p, []byte(want), 0o600)
}

// readIDMap returns the map recorded in dir, the zero IDShift if none.
func readIDMap(dir string) image.IDShift {
	var m image.IDShift
	if b, err := os.ReadFile(filepath.Join(dir, idmapFile)); err == nil {
		fmt.Sscanf(string(b), "%d %d %d", &m.UID, &m.GID, &m.Size)
	}
	return m
}
