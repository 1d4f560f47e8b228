// Package tools pins the control-plane programs that the kube API-server
// tests run: k8s.io/kubernetes with its staging modules replaced by the
// matching v0.x releases, etcd and kwok. ../build.sh builds them; tools.go
// (build tag tools) imports them so that go mod tidy keeps them.
//
// Owns: the versions of the harness binaries.
//
// Must not import: the stack module (this is a module of its own, so that
// none of this reaches stack's go.mod).
package tools
