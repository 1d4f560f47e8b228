package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/internal/errdefs"
)

// indexVersion is the format version of images.json.
const indexVersion = 1

// index is the content of images.json: which manifests are images, and
// which names point at them. Everything else (configs, layers) is derived
// from the blobs; the per-image layer facts are cached here so that List
// and History need not decompress layers.
type index struct {
	Version int                            `json:"version"`
	Images  map[digest.Digest]*imageRecord `json:"images"` // by manifest digest
	Refs    map[string]digest.Digest       `json:"refs"`   // full reference -> manifest digest
}

type imageRecord struct {
	Config  digest.Digest `json:"config"`
	Created time.Time     `json:"created"`
	Added   time.Time     `json:"added"`
	Layers  []layerRecord `json:"layers"`
	// RepoDigests are the repository@digest names the image was pulled
	// by or pushed as, as docker inspect shows them.
	RepoDigests []string `json:"repoDigests,omitempty"`
}

type layerRecord struct {
	Blob      digest.Digest `json:"blob"`
	MediaType string        `json:"mediaType"`
	DiffID    digest.Digest `json:"diffID"`
	// Size is the sum of the sizes of the layer's files, as docker
	// reports a layer's size.
	Size int64 `json:"size"`
}

func (r *imageRecord) size() int64 {
	var n int64
	for _, l := range r.Layers {
		n += l.Size
	}
	return n
}

// loadIndex reads images.json. Writers replace the file atomically, so
// readers need no lock.
func (s *local) loadIndex() (*index, error) {
	ix := &index{Version: indexVersion, Images: map[digest.Digest]*imageRecord{}, Refs: map[string]digest.Digest{}}
	b, err := os.ReadFile(filepath.Join(s.root, indexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(b, ix); err != nil {
		return nil, fmt.Errorf("read image index %s: %v: %w", filepath.Join(s.root, indexFile), err, errdefs.ErrFailedPrecondition)
	}
	if ix.Version != indexVersion {
		return nil, fmt.Errorf("image index version %d, want %d: %w", ix.Version, indexVersion, errdefs.ErrFailedPrecondition)
	}
	if ix.Images == nil {
		ix.Images = map[digest.Digest]*imageRecord{}
	}
	if ix.Refs == nil {
		ix.Refs = map[string]digest.Digest{}
	}
	return ix, nil
}

// update runs fn on the index under the process mutex and the file lock,
// and writes the index back atomically if fn succeeds.
func (s *local) update(ctx context.Context, fn func(ix *index) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFileExclusive(ctx, filepath.Join(s.root, lockFile))
	if err != nil {
		return fmt.Errorf("lock image index: %w", err)
	}
	defer unlock()
	ix, err := s.loadIndex()
	if err != nil {
		return err
	}
	if err := fn(ix); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ix, "", "\t")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.root, indexFile), b, 0o600, s.tmp()); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}
