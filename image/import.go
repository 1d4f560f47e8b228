package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stack-dev/stack/internal/errdefs"
)

// Annotations that name the images of an OCI layout's index.json.
const (
	annotationRefName        = ocispec.AnnotationRefName // "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// Import reads a docker-save tarball or an OCI layout archive.
//
// The archive is first spooled into a private directory under the store's
// tmp/ (a stream such as stdin cannot be read out of order, and both
// formats name their files from a manifest that may come last). A
// docker-save archive is recognised by its manifest.json, which also wins
// when both are present (docker 25+ writes both); an OCI layout by its
// index.json. Blobs are copied with their digests verified, so an image's
// digests survive import unchanged.
func (s *local) Import(ctx context.Context, r io.Reader, opts ImportOptions) ([]Image, error) {
	if opts.Name != "" {
		if _, err := normalizeNames([]string{opts.Name}); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	dir, err := os.MkdirTemp(s.tmp(), "import-")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := spool(ctx, r, dir); err != nil {
		return nil, fmt.Errorf("import: read archive: %w", err)
	}
	a := archive{s: s, dir: dir, opts: opts}
	var imgs []Image
	switch {
	case exists(filepath.Join(dir, "manifest.json")):
		imgs, err = a.dockerSave(ctx)
	case exists(filepath.Join(dir, "index.json")):
		imgs, err = a.ociLayout(ctx)
	default:
		err = fmt.Errorf("neither manifest.json (docker save) nor index.json (OCI layout) found: %w", errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return imgs, fmt.Errorf("import: %w", err)
	}
	return imgs, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// spool extracts the regular files, directories and symlinks of the
// (optionally compressed) tar r into dir, refusing names that leave it.
func spool(ctx context.Context, r io.Reader, dir string) error {
	zr, _, err := decompress(r)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	n := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		n++
		name, err := cleanName(hdr.Name)
		if err != nil || name == "" {
			if err != nil {
				return err
			}
			continue
		}
		p, err := securejoin.SecureJoin(dir, name)
		if err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
		case tar.TypeReg, tar.TypeRegA:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, ctxReader{ctx, tr})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			// Legacy docker-save archives link identical layers to each
			// other; they are only ever opened through securejoin.
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("empty archive: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// archive is an import in progress.
type archive struct {
	s    *local
	dir  string
	opts ImportOptions
}

// open opens a file of the spooled archive by its name in the archive.
func (a archive) open(name string) (*os.File, error) {
	p, err := securejoin.SecureJoin(a.dir, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("archive has no %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return f, err
}

func (a archive) readJSON(name string, v any) ([]byte, error) {
	f, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetadataBlob+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetadataBlob {
		return nil, fmt.Errorf("%s: too large: %w", name, errdefs.ErrInvalidArgument)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

// writeFile copies a file of the archive into the blob store.
func (a archive) writeFile(ctx context.Context, name string, expected digest.Digest) (digest.Digest, int64, error) {
	f, err := a.open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return a.s.WriteBlob(ctx, f, expected)
}

// dockerSaveEntry is one image of a docker-save manifest.json.
type dockerSaveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (a archive) dockerSave(ctx context.Context) ([]Image, error) {
	var entries []dockerSaveEntry
	if _, err := a.readJSON("manifest.json", &entries); err != nil {
		return nil, err
	}
	var out []Image
	for _, e := range entries {
		img, err := a.dockerSaveImage(ctx, e)
		if err != nil {
			return out, fmt.Errorf("image %s: %w", e.Config, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func (a archive) dockerSaveImage(ctx context.Context, e dockerSaveEntry) (Image, error) {
	cd, csize, err := a.writeFile(ctx, e.Config, "")
	if err != nil {
		return Image{}, err
	}
	m := ocispec.Manifest{
		MediaType: MediaTypeManifest,
		Config:    ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: cd, Size: csize},
		Layers:    []ocispec.Descriptor{},
	}
	m.SchemaVersion = 2
	for _, l := range e.Layers {
		mt, err := a.sniff(l)
		if err != nil {
			return Image{}, err
		}
		ld, lsize, err := a.writeFile(ctx, l, "")
		if err != nil {
			return Image{}, err
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mt, Digest: ld, Size: lsize})
	}
	b, err := json.Marshal(m)
	if err != nil {
		return Image{}, err
	}
	md, _, err := a.s.WriteBlob(ctx, bytes.NewReader(b), "")
	if err != nil {
		return Image{}, err
	}
	names := e.RepoTags
	if len(names) == 0 && a.opts.Name != "" {
		names = []string{a.opts.Name}
	}
	return a.s.Create(ctx, md, names...)
}

// sniff returns the layer media type that fits the compression of the
// archive file name.
func (a archive) sniff(name string) (string, error) {
	f, err := a.open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, mt, err := decompress(f)
	if err != nil {
		return "", err
	}
	zr.Close()
	return mt, nil
}

func (a archive) ociLayout(ctx context.Context) ([]Image, error) {
	var idx ocispec.Index
	if _, err := a.readJSON("index.json", &idx); err != nil {
		return nil, err
	}
	var out []Image
	for _, desc := range idx.Manifests {
		md, err := a.pickManifest(ctx, desc, 0)
		if err != nil {
			return out, fmt.Errorf("index entry %s: %w", desc.Digest, err)
		}
		if err := a.copyImage(ctx, md); err != nil {
			return out, fmt.Errorf("image %s: %w", md, err)
		}
		img, err := a.s.Create(ctx, md, a.names(desc.Annotations)...)
		if err != nil {
			return out, err
		}
		out = append(out, img)
	}
	return out, nil
}

// names derives the tags of an OCI index entry from its annotations, the
// way containerd's importer reads them.
func (a archive) names(ann map[string]string) []string {
	if n := ann[annotationContainerdName]; n != "" {
		return []string{n}
	}
	n := ann[annotationRefName]
	switch {
	case n == "" && a.opts.Name != "":
		return []string{a.opts.Name}
	case n == "":
		return nil
	case tagRE().MatchString(n) && !strings.ContainsAny(n, "/:"):
		// Only a tag: it needs a repository.
		if a.opts.Name == "" {
			return nil
		}
		r, err := ParseReference(a.opts.Name)
		if err != nil {
			return nil
		}
		return []string{r.Name() + ":" + n}
	default:
		if _, err := ParseReference(n); err != nil {
			return nil
		}
		return []string{n}
	}
}

func (a archive) blobName(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	return filepath.Join("blobs", d.Algorithm().String(), d.Encoded()), nil
}

// pickManifest follows desc down through indexes to the image manifest
// for this machine's platform and returns its digest.
func (a archive) pickManifest(ctx context.Context, desc ocispec.Descriptor, depth int) (digest.Digest, error) {
	if depth > 4 {
		return "", fmt.Errorf("indexes nested too deep: %w", errdefs.ErrInvalidArgument)
	}
	switch desc.MediaType {
	case MediaTypeManifest, MediaTypeDockerManifest:
		return desc.Digest, nil
	case MediaTypeIndex, MediaTypeDockerList:
	default:
		return "", fmt.Errorf("unsupported media type %q: %w", desc.MediaType, errdefs.ErrInvalidArgument)
	}
	name, err := a.blobName(desc.Digest)
	if err != nil {
		return "", err
	}
	var idx ocispec.Index
	if _, err := a.readJSON(name, &idx); err != nil {
		return "", err
	}
	var fallback *ocispec.Descriptor
	for i, m := range idx.Manifests {
		p := m.Platform
		if p == nil {
			if fallback == nil {
				fallback = &idx.Manifests[i]
			}
			continue
		}
		if p.OS == "unknown" || p.Architecture == "unknown" {
			continue // attestation manifests
		}
		if p.OS == "linux" && p.Architecture == goruntime.GOARCH {
			return a.pickManifest(ctx, m, depth+1)
		}
	}
	if fallback != nil && len(idx.Manifests) == 1 {
		return a.pickManifest(ctx, *fallback, depth+1)
	}
	return "", fmt.Errorf("no manifest for linux/%s in index %s: %w", goruntime.GOARCH, desc.Digest, errdefs.ErrNotFound)
}

// copyImage copies the manifest md, its config and its layers from the
// archive's blobs/ into the store, verifying every digest.
func (a archive) copyImage(ctx context.Context, md digest.Digest) error {
	name, err := a.blobName(md)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if _, err := a.readJSON(name, &m); err != nil {
		return err
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		name, err := a.blobName(d.Digest)
		if err != nil {
			return err
		}
		if _, _, err := a.writeFile(ctx, name, d.Digest); err != nil {
			return err
		}
	}
	_, _, err = a.writeFile(ctx, name, md)
	return err
}

// ImportRootfs stores a root filesystem as a one-layer image. A directory
// is written as a deterministic uncompressed layer; a tar is stored as it
// is (its compression sniffed).
func (s *local) ImportRootfs(ctx context.Context, ref string, opts RootfsOptions) (Image, error) {
	names, err := normalizeNames([]string{ref})
	if err != nil {
		return Image{}, fmt.Errorf("import rootfs: %w", err)
	}
	if (opts.Dir == "") == (opts.Tar == nil) {
		return Image{}, fmt.Errorf("import rootfs: exactly one of a directory and a tar is needed: %w", errdefs.ErrInvalidArgument)
	}
	var layer digest.Digest
	var layerSize int64
	if opts.Dir != "" {
		fi, err := os.Stat(opts.Dir)
		if err != nil {
			return Image{}, fmt.Errorf("import rootfs: %w", err)
		}
		if !fi.IsDir() {
			return Image{}, fmt.Errorf("import rootfs: %s is not a directory: %w", opts.Dir, errdefs.ErrInvalidArgument)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(WriteLayerTar(ctx, pw, opts.Dir, LayerTarOptions{})) }()
		layer, layerSize, err = s.WriteBlob(ctx, pr, "")
		pr.CloseWithError(err)
		if err != nil {
			return Image{}, fmt.Errorf("import rootfs: %w", err)
		}
	} else if layer, layerSize, err = s.WriteBlob(ctx, opts.Tar, ""); err != nil {
		return Image{}, fmt.Errorf("import rootfs: %w", err)
	}
	l, err := s.verifyLayer(ctx, layer)
	if err != nil {
		return Image{}, fmt.Errorf("import rootfs: %w", err)
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC()
	createdBy := opts.CreatedBy
	if createdBy == "" {
		createdBy = "stack image import --rootfs"
	}
	cfg := ConfigFile{
		Created:      &created,
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Config:       opts.Config,
		RootFS:       RootFS{Type: "layers", DiffIDs: []digest.Digest{l.DiffID}},
		History:      []History{{Created: &created, CreatedBy: createdBy, Comment: opts.Comment}},
	}
	md, err := s.writeImageBlobs(ctx, cfg, []ocispec.Descriptor{{MediaType: l.MediaType, Digest: layer, Size: layerSize}})
	if err != nil {
		return Image{}, fmt.Errorf("import rootfs: %w", err)
	}
	return s.Create(ctx, md, names...)
}

// writeImageBlobs writes cfg and an OCI manifest over it and layers, and
// returns the manifest's digest.
func (s *local) writeImageBlobs(ctx context.Context, cfg ConfigFile, layers []ocispec.Descriptor) (digest.Digest, error) {
	cb, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	cd, csize, err := s.WriteBlob(ctx, bytes.NewReader(cb), "")
	if err != nil {
		return "", err
	}
	m := ocispec.Manifest{
		MediaType: MediaTypeManifest,
		Config:    ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: cd, Size: csize},
		Layers:    layers,
	}
	m.SchemaVersion = 2
	mb, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	md, _, err := s.WriteBlob(ctx, bytes.NewReader(mb), "")
	return md, err
}
