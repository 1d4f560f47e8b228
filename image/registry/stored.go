package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

// maxMetadata bounds the manifests and configs read into memory.
const maxMetadata = 8 << 20

// storedImage is an image of the store seen as a go-containerregistry
// v1.Image. Its manifest and config are the stored bytes, and its layers
// the stored blobs, so what is pushed or saved has the image's own
// digests.
type storedImage struct {
	ctx      context.Context
	s        Store
	manifest []byte
	m        v1.Manifest
}

var _ partial.CompressedImageCore = (*storedImage)(nil)

// openImage returns the image ref resolves to in s.
func openImage(ctx context.Context, s Store, ref string) (v1.Image, image.Image, error) {
	img, err := s.Get(ctx, ref)
	if err != nil {
		return nil, img, err
	}
	raw, err := readBlob(ctx, s, img.Manifest)
	if err != nil {
		return nil, img, fmt.Errorf("manifest: %w", err)
	}
	v, err := imageFromManifest(ctx, s, raw)
	return v, img, err
}

// imageFromManifest is the image of manifest raw, whose blobs are in s.
func imageFromManifest(ctx context.Context, s Store, raw []byte) (v1.Image, error) {
	si := &storedImage{ctx: ctx, s: s, manifest: raw}
	if err := json.Unmarshal(raw, &si.m); err != nil {
		return nil, fmt.Errorf("manifest %s: %v: %w", digest.FromBytes(raw), err, errdefs.ErrInvalidArgument)
	}
	if si.m.MediaType == "" {
		si.m.MediaType = types.OCIManifestSchema1
	}
	return partial.CompressedToImage(si)
}

func readBlob(ctx context.Context, s Store, d digest.Digest) ([]byte, error) {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMetadata+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetadata {
		return nil, fmt.Errorf("blob %s: too large: %w", d, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

func (i *storedImage) RawManifest() ([]byte, error)        { return i.manifest, nil }
func (i *storedImage) MediaType() (types.MediaType, error) { return i.m.MediaType, nil }

func (i *storedImage) RawConfigFile() ([]byte, error) {
	return readBlob(i.ctx, i.s, digest.Digest(i.m.Config.Digest.String()))
}

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &storedLayer{i: i, desc: i.m.Config}, nil
	}
	for _, l := range i.m.Layers {
		if l.Digest == h {
			return &storedLayer{i: i, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the image: %w", h, errdefs.ErrNotFound)
}

// storedLayer is a layer blob of the store.
type storedLayer struct {
	i    *storedImage
	desc v1.Descriptor
}

func (l *storedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *storedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	return l.i.s.Open(l.i.ctx, digest.Digest(l.desc.Digest.String()))
}
