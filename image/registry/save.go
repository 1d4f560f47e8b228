package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stack-dev/stack/image"
)

// Save writes the images refs resolve to in s as one docker-save archive
// (the format of `docker save`, which `docker load` and `podman load`
// read): manifest.json, each config as <digest>.json, and each layer,
// uncompressed, as <diffID>/layer.tar, written once however many images
// share it. An image saved by name is tagged with that name; one saved by
// ID carries all its names.
//
// Layers are uncompressed because the format names a layer by the digest
// of its tar, its diffID; a gzip layer is read twice (to learn its size
// for the tar header, then to write it) rather than spooled to disk.
func Save(ctx context.Context, s Store, w io.Writer, refs ...string) error {
	tw := tar.NewWriter(w)
	var entries []dockerSaveEntry
	written := map[string]bool{}
	mtime := time.Unix(0, 0)
	add := func(name string, size int64, body io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		n, err := io.Copy(tw, io.LimitReader(body, size))
		if err == nil && n != size {
			err = fmt.Errorf("%s: %d bytes, expected %d: %w", name, n, size, io.ErrUnexpectedEOF)
		}
		return err
	}
	for _, ref := range refs {
		img, stored, err := openImage(ctx, s, ref)
		if err != nil {
			return fmt.Errorf("save %s: %w", ref, err)
		}
		e, err := saveImage(ctx, img, stored, ref, written, add)
		if err != nil {
			return fmt.Errorf("save %s: %w", ref, err)
		}
		entries = append(entries, e)
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	if err := add("manifest.json", int64(len(b)), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return tw.Close()
}

// dockerSaveEntry is one image of manifest.json.
type dockerSaveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func saveImage(ctx context.Context, img v1.Image, stored image.Image, ref string, written map[string]bool,
	add func(string, int64, io.Reader) error) (dockerSaveEntry, error) {
	var e dockerSaveEntry
	if r, err := image.ParseReference(ref); err == nil && r.Digest == "" && stored.ID.Encoded() != ref && !isIDPrefix(stored, ref) {
		e.RepoTags = []string{r.Familiar()}
	} else {
		e.RepoTags = stored.RepoTags()
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return e, err
	}
	e.Config = stored.ID.Encoded() + ".json"
	if !written[e.Config] {
		if err := add(e.Config, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
			return e, err
		}
		written[e.Config] = true
	}
	layers, err := img.Layers()
	if err != nil {
		return e, err
	}
	for _, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return e, err
		}
		name := diffID.Hex + "/layer.tar"
		e.Layers = append(e.Layers, name)
		if written[name] {
			continue
		}
		size, err := uncompressedSize(ctx, l)
		if err != nil {
			return e, fmt.Errorf("layer %s: %w", diffID, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return e, fmt.Errorf("layer %s: %w", diffID, err)
		}
		err = add(name, size, rc)
		rc.Close()
		if err != nil {
			return e, fmt.Errorf("layer %s: %w", diffID, err)
		}
		written[name] = true
	}
	return e, nil
}

// isIDPrefix reports whether ref is the image's ID or an abbreviation of
// it, which is not a name to tag the saved image with.
func isIDPrefix(img image.Image, ref string) bool {
	return len(ref) >= 4 && len(ref) <= 71 && (img.ID.String() == ref || len(ref) <= 64 && img.ID.Encoded()[:len(ref)] == ref)
}

func uncompressedSize(ctx context.Context, l v1.Layer) (int64, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, ctxReader{ctx, rc})
}

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
