package image

import (
	"archive/tar"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stack-dev/stack/internal/errdefs"
)

func (s *local) readManifest(ctx context.Context, d digest.Digest) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	b, err := s.readBlob(ctx, d)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest %s: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	switch m.MediaType {
	case MediaTypeManifest, MediaTypeDockerManifest, "":
	default:
		return m, fmt.Errorf("manifest %s: media type %q is not an image manifest: %w", d, m.MediaType, errdefs.ErrInvalidArgument)
	}
	if m.Config.Digest == "" {
		return m, fmt.Errorf("manifest %s: no config: %w", d, errdefs.ErrInvalidArgument)
	}
	return m, nil
}

func (s *local) readConfig(ctx context.Context, d digest.Digest) (ConfigFile, error) {
	var c ConfigFile
	b, err := s.readBlob(ctx, d)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("image config %s: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// normalizeNames parses tag names; digests are not names one can tag.
func normalizeNames(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		r, err := ParseReference(n)
		if err != nil {
			return nil, err
		}
		if r.Digest != "" {
			return nil, fmt.Errorf("tag %q: a name with a digest cannot be a tag: %w", n, errdefs.ErrInvalidArgument)
		}
		out = append(out, r.String())
	}
	return out, nil
}

func (s *local) Create(ctx context.Context, md digest.Digest, names ...string) (Image, error) {
	full, err := normalizeNames(names)
	if err != nil {
		return Image{}, err
	}
	m, err := s.readManifest(ctx, md)
	if err != nil {
		return Image{}, fmt.Errorf("create image: %w", err)
	}
	cfg, err := s.readConfig(ctx, m.Config.Digest)
	if err != nil {
		return Image{}, fmt.Errorf("create image: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return Image{}, fmt.Errorf("create image %s: manifest has %d layers, config %d diff_ids: %w",
			md, len(m.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	known := map[digest.Digest]layerRecord{}
	if ix, err := s.loadIndex(); err == nil {
		for _, r := range ix.Images {
			for _, l := range r.Layers {
				known[l.Blob] = l
			}
		}
	}
	rec := &imageRecord{Config: m.Config.Digest, Added: time.Now().UTC()}
	if cfg.Created != nil {
		rec.Created = cfg.Created.UTC()
	}
	for i, desc := range m.Layers {
		l, ok := known[desc.Digest]
		if !ok || l.DiffID != cfg.RootFS.DiffIDs[i] {
			l, err = s.verifyLayer(ctx, desc.Digest)
			if err != nil {
				return Image{}, fmt.Errorf("create image %s: layer %d: %w", md, i, err)
			}
		}
		if l.DiffID != cfg.RootFS.DiffIDs[i] {
			return Image{}, fmt.Errorf("create image %s: layer %d: uncompressed content hashes to %s, config says %s: %w",
				md, i, l.DiffID, cfg.RootFS.DiffIDs[i], errdefs.ErrInvalidArgument)
		}
		rec.Layers = append(rec.Layers, l)
	}
	err = s.update(ctx, func(ix *index) error {
		if old, ok := ix.Images[md]; ok {
			rec.Added = old.Added
		}
		ix.Images[md] = rec
		for _, n := range full {
			ix.Refs[n] = md
		}
		return nil
	})
	if err != nil {
		return Image{}, fmt.Errorf("create image %s: %w", md, err)
	}
	ix, err := s.loadIndex()
	if err != nil {
		return Image{}, err
	}
	return summary(ix, md, rec), nil
}

// verifyLayer decompresses the layer blob d, hashes the uncompressed tar
// and adds up the sizes of its files.
func (s *local) verifyLayer(ctx context.Context, d digest.Digest) (layerRecord, error) {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return layerRecord{}, err
	}
	defer rc.Close()
	blobHash := digest.SHA256.Digester()
	zr, mt, err := decompress(io.TeeReader(ctxReader{ctx, rc}, blobHash.Hash()))
	if err != nil {
		return layerRecord{}, fmt.Errorf("layer %s: %w", d, err)
	}
	defer zr.Close()
	h := digest.SHA256.Digester()
	tee := io.TeeReader(zr, h.Hash())
	tr := tar.NewReader(tee)
	var size int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return layerRecord{}, fmt.Errorf("layer %s: read tar: %v: %w", d, err, errdefs.ErrInvalidArgument)
		}
		if hdr.Typeflag == tar.TypeReg {
			size += hdr.Size
		}
	}
	// Hash the end-of-archive padding too: the diffID covers every byte,
	// and GNU tar pads an archive to a 10 KiB record, past what the tar
	// reader consumes.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return layerRecord{}, fmt.Errorf("layer %s: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return layerRecord{}, fmt.Errorf("layer %s: %w", d, err)
	}
	if blobHash.Digest() != d {
		return layerRecord{}, fmt.Errorf("layer blob %s: content does not match its digest: %w", d, errdefs.ErrFailedPrecondition)
	}
	return layerRecord{Blob: d, MediaType: mt, DiffID: h.Digest(), Size: size}, nil
}

func namesOf(ix *index, md digest.Digest) []string {
	var out []string
	for n, d := range ix.Refs {
		if d == md {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func summary(ix *index, md digest.Digest, rec *imageRecord) Image {
	return Image{ID: rec.Config, Manifest: md, Names: namesOf(ix, md), Created: rec.Created, Size: rec.size()}
}

// resolve finds the image ref names. byName reports whether ref was a
// name (so that Remove untags it) rather than an ID or a digest.
func resolve(ix *index, ref string) (md digest.Digest, byName bool, err error) {
	notFound := fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	isID := idRE().MatchString(ref)
	hexPart := strings.TrimPrefix(ref, "sha256:")
	if isID && (len(hexPart) == 64 || strings.HasPrefix(ref, "sha256:")) {
		return matchID(ix, ref, hexPart, notFound)
	}
	if r, perr := ParseReference(ref); perr == nil {
		if r.Digest != "" {
			if _, ok := ix.Images[r.Digest]; ok {
				return r.Digest, false, nil
			}
			return "", false, notFound
		}
		if d, ok := ix.Refs[r.String()]; ok {
			return d, true, nil
		}
	} else if !isID {
		return "", false, perr
	}
	if isID {
		return matchID(ix, ref, hexPart, notFound)
	}
	return "", false, notFound
}

// matchID matches a full or abbreviated image ID (config digest), or a
// full manifest digest.
func matchID(ix *index, ref, hexPart string, notFound error) (digest.Digest, bool, error) {
	var found []digest.Digest
	for md, rec := range ix.Images {
		if strings.HasPrefix(rec.Config.Encoded(), hexPart) || md.Encoded() == hexPart {
			found = append(found, md)
		}
	}
	switch len(found) {
	case 0:
		return "", false, notFound
	case 1:
		return found[0], false, nil
	}
	// Images that share a config are one image to the user; an ambiguous
	// prefix is an error.
	cfg := ix.Images[found[0]].Config
	for _, md := range found[1:] {
		if ix.Images[md].Config != cfg {
			return "", false, fmt.Errorf("image ID %q is ambiguous: %w", ref, errdefs.ErrInvalidArgument)
		}
	}
	slices.Sort(found)
	return found[0], false, nil
}

func (s *local) Get(ctx context.Context, ref string) (Image, error) {
	ix, err := s.loadIndex()
	if err != nil {
		return Image{}, err
	}
	md, _, err := resolve(ix, ref)
	if err != nil {
		return Image{}, err
	}
	return summary(ix, md, ix.Images[md]), nil
}

func (s *local) List(ctx context.Context) ([]Image, error) {
	ix, err := s.loadIndex()
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(ix.Images))
	for md, rec := range ix.Images {
		out = append(out, summary(ix, md, rec))
	}
	slices.SortFunc(out, func(a, b Image) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.Manifest, b.Manifest)
	})
	return out, nil
}

func (s *local) Tag(ctx context.Context, ref, target string) error {
	full, err := normalizeNames([]string{target})
	if err != nil {
		return err
	}
	return s.update(ctx, func(ix *index) error {
		md, _, err := resolve(ix, ref)
		if err != nil {
			return err
		}
		ix.Refs[full[0]] = md
		return nil
	})
}

// AddRepoDigest records that the image of manifest md is known to a
// registry as repoDigest (repository@sha256:...), as docker records the
// digest of a pull or a push. The image is named by its manifest, not its
// ID: two manifests (an imported image and the same one pulled) may share
// a config. A repository has one digest per image: a newer one for the
// same repository replaces the older.
func (s *local) AddRepoDigest(ctx context.Context, md digest.Digest, repoDigest string) error {
	repo, dg, ok := strings.Cut(repoDigest, "@")
	if _, err := digest.Parse(dg); !ok || err != nil {
		return fmt.Errorf("repo digest %q: want repository@digest: %w", repoDigest, errdefs.ErrInvalidArgument)
	}
	return s.update(ctx, func(ix *index) error {
		rec := ix.Images[md]
		if rec == nil {
			return fmt.Errorf("image with manifest %s: %w", md, errdefs.ErrNotFound)
		}
		rec.RepoDigests = slices.DeleteFunc(rec.RepoDigests, func(d string) bool { return strings.HasPrefix(d, repo+"@") })
		rec.RepoDigests = append(rec.RepoDigests, repoDigest)
		slices.Sort(rec.RepoDigests)
		return nil
	})
}

func (s *local) Remove(ctx context.Context, ref string, opts RemoveOptions) (RemoveReport, error) {
	var rep RemoveReport
	var del []string
	err := s.update(ctx, func(ix *index) error {
		md, byName, err := resolve(ix, ref)
		if err != nil {
			return err
		}
		rec := ix.Images[md]
		names := namesOf(ix, md)
		inUse := opts.InUse != nil && opts.InUse(rec.Config)
		if byName {
			r, _ := ParseReference(ref)
			name := r.String()
			if len(names) > 1 {
				delete(ix.Refs, name)
				rep.Untagged = append(rep.Untagged, name)
				rep.Untagged = append(rep.Untagged, untagRepoDigests(rec, r.Name(), slices.DeleteFunc(names, func(n string) bool { return n == name }))...)
				return nil
			}
			if inUse && !opts.Force {
				return fmt.Errorf("remove image %q: a container uses image %s (untag with force): %w",
					ref, rec.Config.Encoded()[:12], errdefs.ErrFailedPrecondition)
			}
			delete(ix.Refs, name)
			rep.Untagged = append(rep.Untagged, name)
			if inUse {
				rep.Untagged = append(rep.Untagged, untagRepoDigests(rec, r.Name(), nil)...)
				return nil // forced: untagged, kept for its containers
			}
		} else {
			if inUse && !opts.Force {
				return fmt.Errorf("remove image %s: a container uses it: %w", rec.Config.Encoded()[:12], errdefs.ErrFailedPrecondition)
			}
			if len(names) > 1 && !opts.Force {
				return fmt.Errorf("remove image %s: it is referenced by %d names, remove them or use force: %w",
					rec.Config.Encoded()[:12], len(names), errdefs.ErrFailedPrecondition)
			}
			for _, n := range names {
				delete(ix.Refs, n)
				rep.Untagged = append(rep.Untagged, n)
			}
			if inUse {
				return nil
			}
		}
		delete(ix.Images, md)
		gone, _, derr := s.collectLocked(ix, 0)
		rep.Deleted = gone.blobs
		del = gone.layers
		return derr
	})
	if err != nil {
		return rep, err
	}
	for _, p := range del {
		_ = os.RemoveAll(p) // renamed aside under the lock; removing is best effort
	}
	return rep, nil
}

// untagRepoDigests drops the digests of repository repo from rec once
// none of names (what is left on the image) is of that repository, as
// docker's rmi of an image's last tag of a repository untags its digests
// of it too, and returns them.
func untagRepoDigests(rec *imageRecord, repo string, names []string) []string {
	for _, n := range names {
		if r, err := ParseReference(n); err == nil && r.Name() == repo {
			return nil
		}
	}
	var gone []string
	rec.RepoDigests = slices.DeleteFunc(rec.RepoDigests, func(d string) bool {
		if strings.HasPrefix(d, repo+"@") {
			gone = append(gone, d)
			return true
		}
		return false
	})
	return gone
}

type collected struct {
	blobs     []digest.Digest
	layerIDs  []digest.Digest
	layers    []string // directories renamed aside, to delete after unlock
	reclaimed int64
}

// collectLocked deletes the blobs and moves aside the unpacked layers that
// no image of ix references and that are older than grace. The caller
// holds the index lock.
func (s *local) collectLocked(ix *index, grace time.Duration) (collected, int64, error) {
	var c collected
	keepBlobs := map[digest.Digest]bool{}
	keepLayers := map[digest.Digest]bool{}
	for md, rec := range ix.Images {
		keepBlobs[md], keepBlobs[rec.Config] = true, true
		for _, l := range rec.Layers {
			keepBlobs[l.Blob], keepLayers[l.DiffID] = true, true
		}
	}
	cutoff := time.Now().Add(-grace)
	var errs []error
	blobDir := filepath.Join(s.root, blobsDir, string(digest.SHA256))
	entries, err := os.ReadDir(blobDir)
	if err != nil {
		return c, 0, err
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil || keepBlobs[d] {
			continue
		}
		fi, err := e.Info()
		if err != nil || (grace > 0 && fi.ModTime().After(cutoff)) {
			continue
		}
		if err := os.Remove(filepath.Join(blobDir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		c.blobs = append(c.blobs, d)
		c.reclaimed += fi.Size()
	}
	layerDir := filepath.Join(s.root, layersDir, string(digest.SHA256))
	entries, err = os.ReadDir(layerDir)
	if err != nil {
		return c, 0, err
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil || keepLayers[d] {
			continue
		}
		fi, err := e.Info()
		if err != nil || (grace > 0 && fi.ModTime().After(cutoff)) {
			continue
		}
		c.reclaimed += diskUsage(filepath.Join(layerDir, e.Name()))
		aside := filepath.Join(s.tmp(), "remove-"+randomSuffix())
		if err := os.Rename(filepath.Join(layerDir, e.Name()), aside); err != nil {
			errs = append(errs, err)
			continue
		}
		c.layerIDs = append(c.layerIDs, d)
		c.layers = append(c.layers, aside)
	}
	return c, c.reclaimed, errors.Join(errs...)
}

// diskUsage adds up the sizes of the regular files under p.
func diskUsage(p string) int64 {
	var n int64
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func (s *local) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	var rep PruneReport
	var del []string
	err := s.update(ctx, func(ix *index) error {
		named := map[digest.Digest]bool{}
		for _, md := range ix.Refs {
			named[md] = true
		}
		for md, rec := range ix.Images {
			if (named[md] && !opts.All) || (opts.InUse != nil && opts.InUse(rec.Config)) {
				continue
			}
			for n, d := range ix.Refs {
				if d == md {
					delete(ix.Refs, n)
				}
			}
			delete(ix.Images, md)
			rep.ImagesDeleted = append(rep.ImagesDeleted, rec.Config)
		}
		c, _, err := s.collectLocked(ix, opts.GracePeriod)
		rep.BlobsDeleted, rep.LayersDeleted, rep.Reclaimed = c.blobs, c.layerIDs, c.reclaimed
		del = c.layers
		return err
	})
	for _, p := range del {
		_ = os.RemoveAll(p)
	}
	// Leftovers of interrupted writes and unpacks.
	stale := time.Now().Add(-max(opts.GracePeriod, time.Hour))
	if entries, rerr := os.ReadDir(s.tmp()); rerr == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(stale) {
				_ = os.RemoveAll(filepath.Join(s.tmp(), e.Name()))
			}
		}
	}
	slices.Sort(rep.ImagesDeleted)
	return rep, err
}

func (s *local) Inspect(ctx context.Context, ref string) (Inspect, error) {
	ix, err := s.loadIndex()
	if err != nil {
		return Inspect{}, err
	}
	md, _, err := resolve(ix, ref)
	if err != nil {
		return Inspect{}, err
	}
	rec := ix.Images[md]
	cfg, err := s.readConfig(ctx, rec.Config)
	if err != nil {
		return Inspect{}, fmt.Errorf("inspect image %q: %w", ref, err)
	}
	img := summary(ix, md, rec)
	out := Inspect{
		ID:             rec.Config,
		RepoTags:       img.RepoTags(),
		RepoDigests:    familiarDigests(rec.RepoDigests),
		ManifestDigest: md,
		Created:        rec.Created,
		Author:         cfg.Author,
		Architecture:   cfg.Architecture,
		Variant:        cfg.Variant,
		Os:             cfg.OS,
		Size:           rec.size(),
		Config:         cfg.Config,
		RootFS:         cfg.RootFS,
	}
	if out.RootFS.DiffIDs == nil {
		out.RootFS.DiffIDs = []digest.Digest{}
	}
	return out, nil
}

func (s *local) History(ctx context.Context, ref string) ([]HistoryEntry, error) {
	ix, err := s.loadIndex()
	if err != nil {
		return nil, err
	}
	md, _, err := resolve(ix, ref)
	if err != nil {
		return nil, err
	}
	rec := ix.Images[md]
	cfg, err := s.readConfig(ctx, rec.Config)
	if err != nil {
		return nil, fmt.Errorf("image history %q: %w", ref, err)
	}
	var out []HistoryEntry
	layer := 0
	for _, h := range cfg.History {
		e := HistoryEntry{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if h.Created != nil {
			e.Created = h.Created.UTC()
		}
		if !h.EmptyLayer && layer < len(rec.Layers) {
			e.Size = rec.Layers[layer].Size
			layer++
		}
		out = append(out, e)
	}
	// Layers the history does not account for (images built by tools that
	// write no history) get no entry: docker history shows what the
	// config holds, and nothing for an image without history.
	slices.Reverse(out)
	if len(out) > 0 {
		out[0].ID = rec.Config.String()
	}
	return out, nil
}

// familiarDigests writes repo digests as docker shows them
// ("busybox@sha256:..."), never nil.
func familiarDigests(ds []string) []string {
	out := []string{}
	for _, d := range ds {
		repo, dg, _ := strings.Cut(d, "@")
		if r, err := ParseReference(repo); err == nil {
			repo = r.FamiliarName()
		}
		out = append(out, repo+"@"+dg)
	}
	return out
}
