package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stack-dev/stack/image"
)

func goarch() string { return goruntime.GOARCH }

// cacheRecord is what the cache keeps of a filesystem step: its layer.
type cacheRecord struct {
	Blob    digest.Digest `json:"blob"`
	Size    int64         `json:"size"`
	Created time.Time     `json:"created"`
}

// stepKey is the cache key of a filesystem step: everything its result
// depends on. Inputs is the hash of the files it reads.
type stepKey struct {
	Parent  string   `json:"parent"`
	Step    []string `json:"step"`
	Env     []string `json:"env,omitempty"`
	User    string   `json:"user,omitempty"`
	WorkDir string   `json:"workdir,omitempty"`
	Inputs  string   `json:"inputs,omitempty"`
}

func (k stepKey) digest() digest.Digest {
	b, _ := json.Marshal(k)
	return digest.FromBytes(b)
}

func (b *Builder) cachePath(key digest.Digest) string {
	return filepath.Join(b.opts.Root, cacheDir, key.Encoded()+".json")
}

func (b *Builder) keptLayer(diffID digest.Digest) string {
	return filepath.Join(b.opts.Root, layersDir, diffID.Encoded())
}

// lookup returns the cached layer of key if its blob is still stored.
func (b *Builder) lookup(ctx context.Context, key digest.Digest) (cacheRecord, bool) {
	data, err := os.ReadFile(b.cachePath(key))
	if err != nil {
		return cacheRecord{}, false
	}
	var rec cacheRecord
	if json.Unmarshal(data, &rec) != nil || rec.Blob.Validate() != nil {
		return cacheRecord{}, false
	}
	if _, err := b.opts.Store.Stat(ctx, rec.Blob); err != nil {
		return cacheRecord{}, false // pruned since
	}
	return rec, true
}

func (b *Builder) remember(key digest.Digest, rec cacheRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(b.opts.Root, cacheDir), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), b.cachePath(key))
}

// fsStep runs a filesystem step: from the cache when key is known,
// otherwise by mounting st, calling apply on the root filesystem and
// committing the changes as a new layer. It reports whether the cache
// answered.
func (r *run) fsStep(ctx context.Context, st *state, key stepKey, createdBy string, apply func(rootfs string) error) (bool, error) {
	r.fsSteps++
	key.Parent = st.chainID()
	k := key.digest()
	if !r.req.NoCache {
		if rec, ok := r.b.lookup(ctx, k); ok {
			r.cached++
			r.addLayer(st, rec, createdBy)
			return true, nil
		}
	}
	dirs, err := r.layerDirs(ctx, st)
	if err != nil {
		return false, err
	}
	work, err := os.MkdirTemp(r.b.opts.WorkDir, "step-")
	if err != nil {
		return false, err
	}
	storage := r.b.opts.Storage
	defer storage.Remove(work)
	rootfs, err := storage.Mount(ctx, work, dirs)
	if err != nil {
		return false, fmt.Errorf("mount step root filesystem: %w", err)
	}
	if wd := st.file.Config.WorkingDir; wd != "" {
		if err := mkdirIn(rootfs, wd); err != nil {
			return false, fmt.Errorf("create working directory %s: %w", wd, err)
		}
	}
	if err := apply(rootfs); err != nil {
		return false, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(storage.Diff(ctx, work, pw)) }()
	blob, size, err := r.b.opts.Store.WriteBlob(ctx, pr, "")
	pr.CloseWithError(err)
	if err != nil {
		return false, fmt.Errorf("commit layer: %w", err)
	}
	rec := cacheRecord{Blob: blob, Size: size, Created: time.Now().UTC().Truncate(time.Second)}
	if err := storage.Unmount(work); err == nil {
		if upper, err := storage.UpperDir(work); err == nil {
			// The rename fails when another build kept the same layer
			// first (either copy is fine) or across filesystems; the
			// layer is then unpacked from its blob when needed.
			_ = os.Rename(upper, r.b.keptLayer(blob))
		}
	}
	if err := r.b.remember(k, rec); err != nil {
		return false, fmt.Errorf("record build cache: %w", err)
	}
	r.addLayer(st, rec, createdBy)
	return false, nil
}

// addLayer appends a built layer (uncompressed: its digest is its
// diffID) and its history entry to st.
func (r *run) addLayer(st *state, rec cacheRecord, createdBy string) {
	l := layer{desc: ocispec.Descriptor{MediaType: image.MediaTypeLayer, Digest: rec.Blob, Size: rec.Size}, diffID: rec.Blob}
	if dir := r.b.keptLayer(rec.Blob); isDir(dir) {
		l.dir = dir
	}
	st.layers = append(st.layers, l)
	created := rec.Created
	st.file.History = append(st.file.History, image.History{Created: &created, CreatedBy: createdBy, Comment: "stack build"})
	if created.After(st.created) {
		st.created = created
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// layerDirs returns the unpacked directories of st's layers, lowest
// first: the base image's from the store, built ones from the builder's
// kept directories. A built layer whose directory is gone (a cache hit
// after the builder's state was cleaned) is unpacked by the store, through
// an untagged image of st.
func (r *run) layerDirs(ctx context.Context, st *state) ([]string, error) {
	dirs := make([]string, len(st.layers))
	missing := false
	for i, l := range st.layers {
		switch {
		case l.dir != "" && isDir(l.dir):
			dirs[i] = l.dir
		case isDir(r.b.keptLayer(l.diffID)):
			dirs[i] = r.b.keptLayer(l.diffID)
		default:
			missing = true
		}
	}
	if !missing {
		return dirs, nil
	}
	img, err := r.writeImage(ctx, st, nil)
	if err != nil {
		return nil, err
	}
	rf, err := r.b.opts.Store.Rootfs(ctx, img.Manifest.String())
	if err != nil {
		return nil, fmt.Errorf("unpack layers: %w", err)
	}
	return rf.Layers, nil
}

// writeImage writes the config and manifest of st and records the image
// under names.
func (r *run) writeImage(ctx context.Context, st *state, names []string) (image.Image, error) {
	file := st.file
	file.RootFS.Type = "layers"
	file.RootFS.DiffIDs = nil
	var descs []ocispec.Descriptor
	for _, l := range st.layers {
		file.RootFS.DiffIDs = append(file.RootFS.DiffIDs, l.diffID)
		descs = append(descs, l.desc)
	}
	if file.RootFS.DiffIDs == nil {
		file.RootFS.DiffIDs = []digest.Digest{}
	}
	created := st.created
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Second)
	}
	file.Created = &created
	// As docker's builder: an image without PATH gets the default one in
	// its config, so what runs it (docker, a cluster) finds its programs.
	if !slices.ContainsFunc(file.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		file.Config.Env = append(slices.Clone(file.Config.Env), defaultPath)
	}
	cfg, err := json.Marshal(file)
	if err != nil {
		return image.Image{}, err
	}
	store := r.b.opts.Store
	cd, cs, err := store.WriteBlob(ctx, bytesReader(cfg), "")
	if err != nil {
		return image.Image{}, fmt.Errorf("write image config: %w", err)
	}
	if descs == nil {
		descs = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{
		MediaType: image.MediaTypeManifest,
		Config:    ocispec.Descriptor{MediaType: image.MediaTypeConfig, Digest: cd, Size: cs},
		Layers:    descs,
	}
	m.SchemaVersion = 2
	mb, err := json.Marshal(m)
	if err != nil {
		return image.Image{}, err
	}
	md, _, err := store.WriteBlob(ctx, bytesReader(mb), "")
	if err != nil {
		return image.Image{}, fmt.Errorf("write image manifest: %w", err)
	}
	img, err := store.Create(ctx, md, names...)
	if err != nil {
		return image.Image{}, fmt.Errorf("record image: %w", err)
	}
	return img, nil
}

// publish records the final state of the build under the requested tags.
func (r *run) publish(ctx context.Context, st *state) (image.Image, error) {
	if len(r.req.Labels) > 0 {
		if st.file.Config.Labels == nil {
			st.file.Config.Labels = map[string]string{}
		}
		for k, v := range r.req.Labels {
			st.file.Config.Labels[k] = v
		}
	}
	return r.writeImage(ctx, st, r.req.Tags)
}
