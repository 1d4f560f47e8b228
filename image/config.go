package image

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// ConfigFile is an image configuration blob in the OCI image format
// (application/vnd.oci.image.config.v1+json), with the docker extensions
// that docker-built images carry (Healthcheck, Shell, OnBuild).
type ConfigFile struct {
	Created      *time.Time `json:"created,omitempty"`
	Author       string     `json:"author,omitempty"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	Variant      string     `json:"variant,omitempty"`
	Config       Config     `json:"config"`
	RootFS       RootFS     `json:"rootfs"`
	History      []History  `json:"history,omitempty"`
}

// Config is the runtime part of an image configuration: what a container
// of the image runs, and how. Field names and JSON keys are docker's.
type Config struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	Healthcheck  *HealthConfig       `json:"Healthcheck,omitempty"`
	Shell        []string            `json:"Shell,omitempty"`
	OnBuild      []string            `json:"OnBuild,omitempty"`
	ArgsEscaped  bool                `json:"ArgsEscaped,omitempty"`
}

// HealthConfig is docker's image healthcheck. Durations are in
// nanoseconds in JSON, as docker writes them.
type HealthConfig struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// RootFS lists the layers of an image by diffID (the digest of the
// uncompressed layer tar), lowest first.
type RootFS struct {
	Type    string          `json:"type"`
	DiffIDs []digest.Digest `json:"diff_ids"`
}

// History is one step of an image's history; EmptyLayer steps (ENV, CMD,
// ...) have no layer.
type History struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

// Media types of the blobs the store writes and reads.
const (
	MediaTypeManifest       = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeIndex          = "application/vnd.oci.image.index.v1+json"
	MediaTypeConfig         = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer          = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeLayerGzip      = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeLayerZstd      = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// The overlay conventions of layer tarballs, shared with image/overlay.
const (
	// WhiteoutPrefix marks, in a layer tar, a file that hides NAME of
	// lower layers: ".wh.NAME".
	WhiteoutPrefix = ".wh."
	// WhiteoutMetaPrefix starts aufs metadata entries, which are skipped.
	WhiteoutMetaPrefix = ".wh..wh."
	// WhiteoutOpaqueDir in a directory hides the contents of the same
	// directory in lower layers.
	WhiteoutOpaqueDir = ".wh..wh..opq"
	// OverlayOpaqueXattr marks an opaque directory in an overlay lower or
	// upper directory.
	OverlayOpaqueXattr = "trusted.overlay.opaque"
	// OverlayXattrPrefix is the namespace of overlayfs' own xattrs, which
	// never go into a layer tar.
	OverlayXattrPrefix = "trusted.overlay."
)
