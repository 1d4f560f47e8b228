// Package runtime runs containers: it turns an OCI runtime spec and a root
// file system into processes in their own namespaces and cgroup, without
// any other container engine underneath.
//
// Owns: namespaces, mounts and pivot_root, cgroups (v1 and v2), process
// credentials and capabilities, the per-container shim, exec, the
// container state machine and the Init re-exec entry point.
// Must not import: network, image, spec, planner, daemon, api or
// internal/testutil.
package runtime
