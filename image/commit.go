package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions describe the image that [Commit] makes.
type CommitOptions struct {
	// Base is the image the layer goes on (a reference or ID). Required.
	Base string
	// Layer is the new layer: an uncompressed tar, with whiteouts for
	// deletions, as an overlay upper directory's diff. Required.
	Layer io.Reader
	// Names tag the new image. Optional: without one it is dangling.
	Names   []string
	Author  string
	Comment string
	// CreatedBy is the history entry's command, as docker commit shows
	// the container's.
	CreatedBy string
}

// Commit stores a new image made of Base's layers and config plus one
// layer: what `docker commit` does with a container's writable layer.
func Commit(ctx context.Context, s Store, o CommitOptions) (Image, error) {
	base, err := s.Get(ctx, o.Base)
	if err != nil {
		return Image{}, fmt.Errorf("commit: base image %s: %w", o.Base, err)
	}
	var m ocispec.Manifest
	if err := readJSONBlob(ctx, s, base.Manifest, &m); err != nil {
		return Image{}, fmt.Errorf("commit: manifest of %s: %w", o.Base, err)
	}
	var cfg ConfigFile
	if err := readJSONBlob(ctx, s, m.Config.Digest, &cfg); err != nil {
		return Image{}, fmt.Errorf("commit: config of %s: %w", o.Base, err)
	}
	layer, size, err := s.WriteBlob(ctx, o.Layer, "")
	if err != nil {
		return Image{}, fmt.Errorf("commit: write layer: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	cfg.Created = &now
	if o.Author != "" {
		cfg.Author = o.Author
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, layer)
	cfg.History = append(cfg.History, History{Created: &now, CreatedBy: o.CreatedBy, Author: o.Author, Comment: o.Comment})
	cb, err := json.Marshal(cfg)
	if err != nil {
		return Image{}, err
	}
	cd, cs, err := s.WriteBlob(ctx, bytes.NewReader(cb), "")
	if err != nil {
		return Image{}, fmt.Errorf("commit: write config: %w", err)
	}
	m.Config = ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: cd, Size: cs}
	m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: MediaTypeLayer, Digest: layer, Size: size})
	m.MediaType = MediaTypeManifest
	mb, err := json.Marshal(m)
	if err != nil {
		return Image{}, err
	}
	md, _, err := s.WriteBlob(ctx, bytes.NewReader(mb), "")
	if err != nil {
		return Image{}, fmt.Errorf("commit: write manifest: %w", err)
	}
	img, err := s.Create(ctx, md, o.Names...)
	if err != nil {
		return Image{}, fmt.Errorf("commit: %w", err)
	}
	return img, nil
}

func readJSONBlob(ctx context.Context, s Provider, d digest.Digest, v any) error {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	return json.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(v)
}
