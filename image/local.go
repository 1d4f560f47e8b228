package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// On-disk layout of a store root. blobs/ and oci-layout make the root an
// OCI image layout (without index.json), so tools that read layouts by
// digest can read it.
const (
	blobsDir     = "blobs"
	layersDir    = "layers"
	tmpDir       = "tmp"
	indexFile    = "images.json"
	lockFile     = "images.lock"
	ociLayout    = "oci-layout"
	ociLayoutDoc = `{"imageLayoutVersion":"1.0.0"}`
	layerDiffDir = "diff"
)

// local is the [Store] under one root directory.
type local struct {
	root string

	// mu serialises index updates inside this process; the file lock
	// serialises them across processes.
	mu sync.Mutex
	// unpacking holds one *sync.Mutex per layer diffID being unpacked so
	// that goroutines of this process unpack a layer only once.
	unpacking sync.Map
}

// NewStore opens, creating it if needed, the image store under root (for
// example /var/lib/stack/image).
func NewStore(root string) (Store, error) {
	if root == "" {
		return nil, fmt.Errorf("image store root: %w", errdefs.ErrInvalidArgument)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("image store root: %w", err)
	}
	for _, d := range []string{
		filepath.Join(blobsDir, string(digest.SHA256)),
		filepath.Join(layersDir, string(digest.SHA256)),
		tmpDir,
	} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("create image store: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ociLayout)); errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(filepath.Join(root, ociLayout), []byte(ociLayoutDoc), 0o644, filepath.Join(root, tmpDir)); err != nil {
			return nil, fmt.Errorf("create image store: %w", err)
		}
	}
	return &local{root: root}, nil
}

func (s *local) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, blobsDir, d.Algorithm().String(), d.Encoded())
}

func (s *local) layerPath(diffID digest.Digest) string {
	return filepath.Join(s.root, layersDir, diffID.Algorithm().String(), diffID.Encoded())
}

func (s *local) tmp() string { return filepath.Join(s.root, tmpDir) }

// checkDigest accepts only sha256 digests, whose encoded part is then safe
// as a path component.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %q: only sha256 is supported: %w", d, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *local) Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	if err := checkDigest(d); err != nil {
		return nil, err
	}
	f, err := os.Open(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return f, err
}

func (s *local) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	if err := checkDigest(d); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s *local) WriteBlob(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, int64, error) {
	if expected != "" {
		if err := checkDigest(expected); err != nil {
			return "", 0, err
		}
		if fi, err := os.Stat(s.blobPath(expected)); err == nil {
			// Present already: drain nothing, the caller's stream is
			// theirs to close.
			return expected, fi.Size(), nil
		}
	}
	f, err := os.CreateTemp(s.tmp(), "blob-")
	if err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	tmpName := f.Name()
	defer os.Remove(tmpName) // after a successful rename this is a no-op
	h := digest.SHA256.Digester()
	n, err := io.Copy(io.MultiWriter(f, h.Hash()), ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	got := h.Digest()
	if expected != "" && got != expected {
		return "", 0, fmt.Errorf("write blob: content hashes to %s, want %s: %w", got, expected, errdefs.ErrInvalidArgument)
	}
	if err := os.Chmod(tmpName, 0o444); err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	// rename(2) replaces an existing blob atomically; both have the same
	// content, so a concurrent writer of the same blob is harmless.
	if err := os.Rename(tmpName, s.blobPath(got)); err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	if err := syncDir(filepath.Dir(s.blobPath(got))); err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	return got, n, nil
}

// readBlob returns the content of a small blob (manifest, config),
// verifying its digest.
func (s *local) readBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMetadataBlob+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if len(b) > maxMetadataBlob {
		return nil, fmt.Errorf("blob %s: larger than %d bytes: %w", d, maxMetadataBlob, errdefs.ErrInvalidArgument)
	}
	if d.Algorithm().FromBytes(b) != d {
		return nil, fmt.Errorf("blob %s: content does not match its digest: %w", d, errdefs.ErrFailedPrecondition)
	}
	return b, nil
}

// maxMetadataBlob bounds manifests, indexes and configs read into memory.
const maxMetadataBlob = 8 << 20

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeFileAtomic writes data to path through a temporary file in tmp
// (same filesystem), fsyncs it, renames it into place and fsyncs the
// directory, so that readers see the old or the new content, never a mix,
// even after a crash.
func writeFileAtomic(path string, data []byte, perm os.FileMode, tmp string) error {
	f, err := os.CreateTemp(tmp, "atomic-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// randomSuffix names temporary directories.
func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
