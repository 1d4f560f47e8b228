// Package image is stack's local image store: content-addressed blobs,
// OCI manifests and configs, the names that point at them, and the
// unpacked layer directories containers are made from.
//
// # Layout
//
// [NewStore] keeps everything under one root (e.g. /var/lib/stack/image):
//
//	oci-layout              {"imageLayoutVersion":"1.0.0"}
//	blobs/sha256/<hex>      layers, configs and manifests, read-only
//	layers/sha256/<diffID>/diff
//	                        a layer unpacked once, in overlay form, shared
//	                        by every image that has it
//	images.json             images (by manifest digest) and names, replaced
//	                        atomically under images.lock (flock)
//	tmp/                    blobs, unpacks and imports being written
//
// A blob or a layer directory appears by rename(2) only once complete and
// verified; the index is only changed under the lock. Several processes
// may therefore share a root.
//
// # Publishing an image
//
// Import, and later pull and build, all do the same: write the layer,
// config and manifest blobs with [Ingester.WriteBlob], then call
// [Images.Create] with the manifest digest and the names. Create checks
// every layer against the diffIDs of the config.
//
// # Names
//
// Names are normalised as docker does ([ParseReference]): "busybox" is
// stored as "docker.io/library/busybox:latest" and shown as
// "busybox:latest" ([FamiliarReference]). An image ID is the digest of its
// config, as in docker; IDs may be abbreviated.
//
// Owns: the image store layout, reference normalisation, layer tar
// reading and writing (whiteouts), docker-save and OCI archive import.
// Must not import: runtime, network, planner, spec, daemon, cmd, or
// internal/testutil.
package image
