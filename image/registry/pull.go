package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

var errInvalid = errdefs.ErrInvalidArgument

// Pull downloads the image ref into s and names it ref (normalised), as
// `docker pull` does. Layers already in s are not downloaded again, and
// at most opts.Jobs are downloaded at once. The blobs are written before
// the image is created, so an interrupted pull leaves no image, only
// blobs that a later pull reuses (or prune collects).
func Pull(ctx context.Context, s Store, ref string, opts Options) (image.Image, error) {
	r, nr, err := opts.parse(ref)
	if err != nil {
		return image.Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	desc, err := remote.Get(nr, opts.remote(ctx)...)
	if err != nil {
		return image.Image{}, fmt.Errorf("pull %w", classify(ref, err))
	}
	img, err := pick(desc, opts.platform())
	if err != nil {
		return image.Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	md, err := storeImage(ctx, s, img, opts)
	if err != nil {
		return image.Image{}, fmt.Errorf("pull %w", classify(ref, err))
	}
	var names []string
	if r.Digest == "" {
		names = append(names, r.String())
	}
	out, err := s.Create(ctx, md, names...)
	if err != nil {
		return image.Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	// The digest the name resolved to: an index's for a multi-platform
	// image, as docker records it.
	if err := recordRepoDigest(ctx, s, out.Manifest, r.Name(), digest.Digest(desc.Digest.String())); err != nil {
		return image.Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	return out, nil
}

// pick returns the image of desc, choosing the manifest of platform p when
// desc is an index.
func pick(desc *remote.Descriptor, p v1.Platform) (v1.Image, error) {
	switch {
	case desc.MediaType.IsImage():
		return desc.Image()
	case !desc.MediaType.IsIndex():
		return nil, fmt.Errorf("media type %q is not an image (a schema 1 manifest needs re-pushing with a current client): %w", desc.MediaType, errdefs.ErrNotImplemented)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, m := range im.Manifests {
		if m.Platform == nil || !m.MediaType.IsImage() {
			continue
		}
		have = append(have, m.Platform.String())
		if m.Platform.OS == p.OS && m.Platform.Architecture == p.Architecture && (p.Variant == "" || m.Platform.Variant == p.Variant) {
			return idx.Image(m.Digest)
		}
	}
	return nil, fmt.Errorf("no image for %s in the index (it has %s): %w", p.String(), strings.Join(have, ", "), errdefs.ErrNotFound)
}

// storeImage writes the layers, config and manifest of img into s and
// returns the manifest's digest.
func storeImage(ctx context.Context, s Store, img v1.Image, opts Options) (digest.Digest, error) {
	mt, err := img.MediaType()
	if err != nil {
		return "", err
	}
	if mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2 {
		return "", fmt.Errorf("manifest media type %q: %w", mt, errdefs.ErrNotImplemented)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	m, err := img.Manifest()
	if err != nil {
		return "", err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.jobs())
	seen := map[v1.Hash]bool{}
	for _, l := range m.Layers {
		if seen[l.Digest] {
			continue
		}
		seen[l.Digest] = true
		g.Go(func() error { return fetchLayer(gctx, s, img, l, opts) })
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return "", err
	}
	if _, _, err := s.WriteBlob(ctx, bytes.NewReader(cfg), digest.Digest(m.Config.Digest.String())); err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	md, _, err := s.WriteBlob(ctx, bytes.NewReader(raw), "")
	return md, err
}

// fetchLayer downloads one layer unless s has it.
func fetchLayer(ctx context.Context, s Store, img v1.Image, desc v1.Descriptor, opts Options) error {
	d := digest.Digest(desc.Digest.String())
	if _, err := s.Stat(ctx, d); err == nil {
		opts.progress(Progress{Layer: d, Status: Exists, Current: desc.Size, Total: desc.Size})
		return nil
	}
	l, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	defer rc.Close()
	cr := &countingReader{r: rc, report: func(n int64) {
		opts.progress(Progress{Layer: d, Status: Transferring, Current: n, Total: desc.Size})
	}}
	opts.progress(Progress{Layer: d, Status: Transferring, Total: desc.Size})
	if _, _, err := s.WriteBlob(ctx, cr, d); err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	opts.progress(Progress{Layer: d, Status: Done, Current: cr.n, Total: desc.Size})
	return nil
}

// countingReader reports the bytes read through it, at most every
// reportEvery, so a progress display is not flooded.
type countingReader struct {
	r      io.Reader
	n      int64
	last   time.Time
	report func(int64)
}

const reportEvery = 100 * time.Millisecond

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.last) >= reportEvery {
		c.last = now
		c.report(c.n)
	}
	return n, err
}
