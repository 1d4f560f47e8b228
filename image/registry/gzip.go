package registry

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// repoDigester is the part of the store that records the digests an image
// has in registries; the local store has it.
type repoDigester interface {
	AddRepoDigest(ctx context.Context, manifest digest.Digest, repoDigest string) error
}

// recordRepoDigest notes that the image of manifest md is repo@d in a
// registry, when the store keeps such notes.
func recordRepoDigest(ctx context.Context, s Store, md digest.Digest, repo string, d digest.Digest) error {
	if rd, ok := s.(repoDigester); ok {
		return rd.AddRepoDigest(ctx, md, repo+"@"+d.String())
	}
	return nil
}

// compressedManifest returns the manifest to push for the stored manifest
// raw: its uncompressed layers (those stack builds and commits) replaced
// by gzip-compressed ones, written into the store, as registries and
// docker expect layers to be. The config, and so the image ID, stays the
// same; so does a manifest whose layers are all compressed already. gzip
// writes no time or name into its header, so one layer always compresses
// to the same blob and a second push finds it there.
func compressedManifest(ctx context.Context, s Store, raw []byte) ([]byte, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	changed := false
	for i, l := range m.Layers {
		if l.MediaType != types.OCIUncompressedLayer && l.MediaType != types.DockerUncompressedLayer {
			continue
		}
		d, size, err := gzipBlob(ctx, s, digest.Digest(l.Digest.String()))
		if err != nil {
			return nil, fmt.Errorf("compress layer %s: %w", l.Digest, err)
		}
		h, err := v1.NewHash(d.String())
		if err != nil {
			return nil, err
		}
		m.Layers[i].Digest, m.Layers[i].Size = h, size
		m.Layers[i].MediaType = types.OCILayer
		if l.MediaType == types.DockerUncompressedLayer {
			m.Layers[i].MediaType = types.DockerLayer
		}
		changed = true
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(m)
}

// gzipBlob writes the gzip compression of blob d into s and returns its
// digest and size. The compression goes through a temporary file: layers
// can be large.
func gzipBlob(ctx context.Context, s Store, d digest.Digest) (digest.Digest, int64, error) {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp("", "stack-push-*.gz")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	zw := gzip.NewWriter(tmp)
	if _, err := io.Copy(zw, rc); err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	return s.WriteBlob(ctx, tmp, "")
}
