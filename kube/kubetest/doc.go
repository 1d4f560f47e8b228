// Package kubetest starts a throwaway Kubernetes control plane for tests:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// (fake nodes), from the binaries kube/harness/build.sh builds, through
// kube/harness/controlplane.sh. Tests that need it call [Start], which
// skips them when the binaries are not built, except in CI (CI=true),
// where a missing binary fails the test instead.
//
// Owns: finding the harness binaries and the control plane's lifecycle in
// a test.
//
// Must not import: anything of stack's but the standard library; only
// tests import it.
package kubetest
