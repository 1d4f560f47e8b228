// Package build turns a Dockerfile and its context into an image of the
// local store, step by step, with a layer cache.
//
// Each filesystem step (RUN, COPY, ADD) runs on an overlay of the layers
// below it; its layer is the diff of the overlay's upper directory, an
// uncompressed tar with whiteouts, stored by digest. Metadata steps (ENV,
// CMD, ...) only change the image config and add a history entry. The
// final image is published with [image.Images.Create] like an imported
// or pulled one.
//
// # Cache
//
// A filesystem step is looked up by a key over the layers below it, the
// instruction after variable expansion, the environment, user, working
// directory and shell it runs with, and the content of its inputs (COPY
// sources are hashed by content, never by modification time). A hit
// reuses the layer without mounting or running anything, so a rebuild
// with nothing changed costs a few hashes. The upper directory of a
// step is kept as the unpacked form of its layer, so the next step
// mounts it without unpacking the tar again.
//
// # Running steps
//
// The package runs nothing itself: RUN goes through an [Executor], and
// mounts through a [Storage], both supplied by the daemon, which owns the
// container runtime, the network and the storage driver. This keeps the
// package portable and free of those siblings.
//
// Owns: Dockerfile interpretation (through buildkit's parser and
// instruction packages), the build cache, build contexts and
// .dockerignore, layer commits of build steps.
// Must not import: runtime, network, planner, spec, daemon, cmd, or
// internal/testutil.
package build
