package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/internal/errdefs"
)

func (s *local) Rootfs(ctx context.Context, ref string) (Rootfs, error) {
	ix, err := s.loadIndex()
	if err != nil {
		return Rootfs{}, err
	}
	md, _, err := resolve(ix, ref)
	if err != nil {
		return Rootfs{}, err
	}
	rec := ix.Images[md]
	cfg, err := s.readConfig(ctx, rec.Config)
	if err != nil {
		return Rootfs{}, fmt.Errorf("image %q: %w", ref, err)
	}
	out := Rootfs{ID: rec.Config, Manifest: md, Config: cfg.Config, Layers: make([]string, 0, len(rec.Layers))}
	for _, l := range rec.Layers {
		dir, err := s.unpack(ctx, l)
		if err != nil {
			return Rootfs{}, fmt.Errorf("image %q: unpack layer %s: %w", ref, l.DiffID, err)
		}
		out.Layers = append(out.Layers, dir)
	}
	return out, nil
}

// unpack makes sure the layer l is unpacked and returns its directory.
// The layer is unpacked into a private directory under tmp/ and renamed
// into place, so a layer directory is complete or absent; when two
// processes race, both unpack and the loser's rename fails harmlessly.
func (s *local) unpack(ctx context.Context, l layerRecord) (string, error) {
	if err := checkDigest(l.DiffID); err != nil {
		return "", err
	}
	final := s.layerPath(l.DiffID)
	diff := filepath.Join(final, layerDiffDir)
	if _, err := os.Lstat(diff); err == nil {
		return diff, nil
	}
	mu, _ := s.unpacking.LoadOrStore(l.DiffID, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if _, err := os.Lstat(diff); err == nil {
		return diff, nil
	}
	tmp, err := os.MkdirTemp(s.tmp(), "unpack-"+l.DiffID.Encoded()[:12]+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Mkdir(filepath.Join(tmp, layerDiffDir), 0o755); err != nil {
		return "", err
	}
	rc, err := s.Open(ctx, l.Blob)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	zr, _, err := decompress(rc)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	h := digest.SHA256.Digester()
	tee := io.TeeReader(zr, h.Hash())
	if _, err := unpackLayer(ctx, filepath.Join(tmp, layerDiffDir), tee); err != nil {
		return "", err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", err
	}
	if got := h.Digest(); got != l.DiffID {
		return "", fmt.Errorf("layer content hashes to %s: %w", got, errdefs.ErrFailedPrecondition)
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, errNotEmpty) {
			return diff, nil // another process won the race
		}
		return "", err
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return "", err
	}
	return diff, nil
}
