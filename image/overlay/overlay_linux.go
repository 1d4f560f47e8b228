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
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
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
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
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
	return image.WriteLayerTar(ctx, w, filepath.Join(dir, upperDir), image.LayerTarOptions{OverlayWhiteouts: true})
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
