// Package overlay mounts container root filesystems from the unpacked
// layer directories of the image store: an overlayfs mount with the layers
// as lower directories and the container's own upper and work
// directories, or, where the filesystem refuses overlayfs, a plain copy of
// the layers.
//
// # Long layer chains
//
// Mount options are limited to one page (4096 bytes on most machines).
// Like docker's overlay2 driver, the driver keeps short symlinks to the
// layer directories under <root>/l/ and mounts with lowerdir=l/ab12...,
// relative to <root>; the mount runs on a thread whose working directory
// is private (unshare(CLONE_FS)), so the process' own working directory
// never changes. 12 hex characters per layer let about 250 layers fit.
//
// # Container directory
//
// Mount(dir, layers) uses dir/upper, dir/work and dir/rootfs (the mount
// point); the copy driver fills dir/rootfs directly. Remove unmounts and
// deletes dir.
//
// Owns: overlay mount options, short layer links, the storage driver
// choice, upper-dir size and export.
// Must not import: runtime, network, planner, spec, daemon, cmd, or
// internal/testutil.
package overlay
