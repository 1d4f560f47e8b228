package image

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Provider reads blobs by digest. A blob is visible through Provider only
// once it has been completely written and its digest verified.
type Provider interface {
	// Open returns a reader for the blob dgst. It returns an error wrapping
	// errdefs.ErrNotFound when the blob is absent.
	Open(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error)
	// Stat returns the size of the blob dgst, or an error wrapping
	// errdefs.ErrNotFound.
	Stat(ctx context.Context, dgst digest.Digest) (int64, error)
}

// Ingester writes blobs.
type Ingester interface {
	// WriteBlob stores the content of r and returns its digest and size.
	// When expected is not empty, the content must hash to it, or nothing
	// is stored and the error wraps errdefs.ErrInvalidArgument. Writing a
	// blob that is already present is cheap and not an error. WriteBlob is
	// safe for concurrent use, also across processes sharing a root.
	WriteBlob(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, int64, error)
}

// Content is the content-addressed blob store: layers, image configs and
// manifests, all in OCI form.
type Content interface {
	Provider
	Ingester
}

// Images records images (a manifest whose config and layers are in
// [Content]) and the names that refer to them.
type Images interface {
	// Create records the image whose manifest blob is manifest, after
	// checking that its config and layers are present and that every layer
	// hashes to the diffID its config names, and tags it with names (docker
	// references, normalised). A name that pointed at another image moves.
	// Create is how import, pull and build publish an image: write the
	// blobs with [Ingester.WriteBlob] first, then call Create.
	Create(ctx context.Context, manifest digest.Digest, names ...string) (Image, error)
	// Get resolves ref (a name, name@digest, a full or abbreviated ID) to
	// an image, or returns an error wrapping errdefs.ErrNotFound.
	Get(ctx context.Context, ref string) (Image, error)
	// List returns all images, newest first.
	List(ctx context.Context) ([]Image, error)
	// Tag adds the name target to the image that ref resolves to.
	Tag(ctx context.Context, ref, target string) error
	// Remove untags or deletes images as `docker rmi` does; see
	// [RemoveOptions].
	Remove(ctx context.Context, ref string, opts RemoveOptions) (RemoveReport, error)
}

// Inspector describes images the way `docker image inspect` and
// `docker history` do.
type Inspector interface {
	Inspect(ctx context.Context, ref string) (Inspect, error)
	History(ctx context.Context, ref string) ([]HistoryEntry, error)
}

// Importer brings images in from archives and plain root filesystems.
type Importer interface {
	// Import reads a docker-save tarball or an OCI image layout archive
	// (each optionally gzip-compressed) from r, stores every image in it
	// with its tags, and returns them in archive order.
	Import(ctx context.Context, r io.Reader, opts ImportOptions) ([]Image, error)
	// ImportRootfs stores a plain root filesystem as a single-layer image
	// named ref.
	ImportRootfs(ctx context.Context, ref string, opts RootfsOptions) (Image, error)
}

// Unpacker turns an image into what a container is made from.
type Unpacker interface {
	// Rootfs unpacks the layers of the image ref if they are not unpacked
	// yet and returns their directories and the image config. Each layer is
	// unpacked once into a directory shared by every image that contains
	// it; Rootfs is safe for concurrent use, also across processes.
	Rootfs(ctx context.Context, ref string) (Rootfs, error)
}

// Pruner deletes what no image needs any more.
type Pruner interface {
	Prune(ctx context.Context, opts PruneOptions) (PruneReport, error)
}

// Store is the local image store. The implementation returned by
// [NewStore] is safe for concurrent use by several goroutines and several
// processes sharing one root.
type Store interface {
	Content
	Images
	Inspector
	Importer
	Unpacker
	Pruner
}

// Image is the summary of one stored image, as `docker image ls` shows it.
type Image struct {
	// ID is the digest of the image config, as docker shows it.
	ID digest.Digest
	// Manifest is the digest of the OCI image manifest.
	Manifest digest.Digest
	// Names are the full references that point at the image, sorted
	// (e.g. "docker.io/library/busybox:latest"). Use [FamiliarReference]
	// to display them.
	Names []string
	// Created is the creation time recorded in the image config.
	Created time.Time
	// Size is the sum of the uncompressed sizes of the layers' contents.
	Size int64
}

// RepoTags returns the image's names as docker displays them.
func (i Image) RepoTags() []string {
	out := make([]string, len(i.Names))
	for n, s := range i.Names {
		out[n] = FamiliarReference(s)
	}
	return out
}

// InUseFunc reports whether a container uses the image with config digest
// id. The daemon, which knows the containers, supplies it.
type InUseFunc func(id digest.Digest) bool

// RemoveOptions control [Images.Remove].
type RemoveOptions struct {
	// Force deletes an image referenced by several names when it is
	// removed by ID, and untags by name even if the image is in use (the
	// image itself is then kept). Optional.
	Force bool
	// InUse refuses the deletion of images that containers use. Optional:
	// nil means no image is in use.
	InUse InUseFunc
}

// RemoveReport says what [Images.Remove] did, in docker's terms.
type RemoveReport struct {
	Untagged []string        // full references removed
	Deleted  []digest.Digest // blobs deleted (config, manifest, layers)
}

// PruneOptions control [Pruner.Prune].
type PruneOptions struct {
	// All deletes every image no container uses, not only the untagged
	// ("dangling") ones. Optional.
	All bool
	// InUse protects the images containers use. Optional.
	InUse InUseFunc
	// GracePeriod keeps unreferenced blobs and layers younger than it, so
	// that a concurrent pull or build that has written blobs but not yet
	// called [Images.Create] does not lose them. Optional; zero keeps none.
	GracePeriod time.Duration
}

// PruneReport says what [Pruner.Prune] deleted.
type PruneReport struct {
	ImagesDeleted []digest.Digest // image IDs
	BlobsDeleted  []digest.Digest
	LayersDeleted []digest.Digest // diffIDs of unpacked layers
	Reclaimed     int64           // bytes of blobs and layer files freed
}

// ImportOptions control [Importer.Import].
type ImportOptions struct {
	// Name is the repository given to images of an OCI archive whose
	// index names only a tag ("org.opencontainers.image.ref.name":
	// "1.0"), or an image with no name at all (tagged "latest").
	// Optional: without it such images are imported untagged.
	Name string
}

// RootfsOptions control [Importer.ImportRootfs]. Exactly one of Dir and
// Tar is required.
type RootfsOptions struct {
	Dir string    // a root filesystem directory
	Tar io.Reader // a tar of a root filesystem, optionally gzip or zstd compressed
	// Config is the image's runtime configuration. Optional.
	Config Config
	// Created is the image's creation time. Optional: now.
	Created time.Time
	// CreatedBy and Comment fill the image's single history entry.
	// Optional.
	CreatedBy, Comment string
}

// Rootfs is what the daemon builds a container from.
type Rootfs struct {
	ID       digest.Digest
	Manifest digest.Digest
	// Layers are the unpacked layer directories, lowest first; each is in
	// the overlay format (whiteouts as 0:0 character devices, opaque
	// directories marked with trusted.overlay.opaque=y) and must never be
	// written to.
	Layers []string
	Config Config
}

// HistoryEntry is one line of `docker history`, newest first.
type HistoryEntry struct {
	// ID is the image ID on the top entry and "<missing>" on the others,
	// as docker shows for images it did not build.
	ID         string
	Created    time.Time
	CreatedBy  string
	Size       int64
	Comment    string
	EmptyLayer bool
}

// Inspect is the JSON-ready description of an image, shaped like
// `docker image inspect`.
type Inspect struct {
	ID             digest.Digest `json:"Id"`
	RepoTags       []string      `json:"RepoTags"`
	RepoDigests    []string      `json:"RepoDigests"`
	ManifestDigest digest.Digest `json:"ManifestDigest"`
	Created        time.Time     `json:"Created"`
	Author         string        `json:"Author,omitempty"`
	Architecture   string        `json:"Architecture"`
	Variant        string        `json:"Variant,omitempty"`
	Os             string        `json:"Os"`
	Size           int64         `json:"Size"`
	Config         Config        `json:"Config"`
	RootFS         RootFS        `json:"RootFS"`
}
