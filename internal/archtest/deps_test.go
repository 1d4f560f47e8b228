package archtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stack-dev/stack"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rel strips the module prefix: "github.com/stack-dev/stack/spec" -> "spec".
func rel(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// layer returns the top-level part of a package path ("network/ipam" ->
// "network").
func layer(path string) string {
	top, _, _ := strings.Cut(rel(path), "/")
	return top
}

// TestImportDirection enforces STYLE.md: cmd -> daemon -> planner, runtime,
// network, image -> spec, internal. Siblings never import each other and
// nothing imports upwards. dockerapi, the Docker Engine API, is a front
// door as the stack REST API is: between cmd, which wires it, and daemon,
// whose service layer it calls and below which it never reaches.
func TestImportDirection(t *testing.T) {
	// allowed lists, per layer, the layers of this module it may import.
	allowed := map[string][]string{
		"cmd":       {"daemon", "dockerapi", "api", "spec", "planner", "internal", "kube"},
		"dockerapi": {"daemon", "api", "spec", "internal"},
		"daemon":    {"api", "planner", "runtime", "network", "image", "spec", "internal"},
		"api":       {"internal"},
		"planner":   {"spec", "internal"},
		"runtime":   {"internal"},
		"network":   {"internal"},
		"image":     {"internal"},
		"spec":      {"internal"},
		"internal":  {"internal"},
		"bench":     {"internal", "spec", "planner", "runtime", "network", "image"},
		"test":      {"internal"},
		"kube":      {"spec", "planner", "internal"},
	}
	for _, p := range listPackages(t) {
		from := layer(p.ImportPath)
		ok, known := allowed[from]
		if r := rel(p.ImportPath); r == "cmd/stack-shim" || r == "cmd/stack-init" {
			// The shim binary links the runtime and nothing above it,
			// so that it starts fast (see its doc).
			ok = []string{"runtime"}
		}
		if !known {
			t.Errorf("package %s is in no known layer: add it to STYLE.md and this test", rel(p.ImportPath))
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := layer(imp)
			if to == from && from != "internal" {
				continue
			}
			if !contains(ok, to) {
				t.Errorf("%s imports %s: %s may import only %v", rel(p.ImportPath), rel(imp), from, ok)
			}
		}
	}
}

// TestForbiddenDeps keeps heavy or platform-bound dependencies out of the
// portable packages, cobra in cmd, and test helpers out of production code.
func TestForbiddenDeps(t *testing.T) {
	rules := []struct {
		pkgPrefix string
		forbidden []string
		why       string
	}{
		{"spec", []string{"golang.org/x/sys", "github.com/vishvananda", "github.com/spf13/cobra", "github.com/containerd"}, "spec is portable and a leaf"},
		{"planner", []string{"golang.org/x/sys", "github.com/vishvananda", "github.com/spf13/cobra", "os/exec", "github.com/containerd"}, "planner is pure: no I/O"},
		{"", []string{"testing", module + "/internal/testutil"}, "production code must not import test helpers"},
		// The stack binary can run the shim's roles too (without
		// stack-shim beside it); the daemon and runtime must not pull
		// client-go's weight in.
		{"daemon", []string{"k8s.io", "sigs.k8s.io", module + "/kube"}, "Kubernetes is only for the kube commands"},
		{"runtime", []string{"k8s.io", "sigs.k8s.io", module + "/kube"}, "Kubernetes is only for the kube commands"},
		{"cmd/stack-shim", []string{"github.com/spf13/cobra", "k8s.io", module + "/daemon", module + "/network", module + "/image"}, "the shim binary starts once per container: it links the runtime only"},
		{"cmd/stack-init", []string{"github.com/spf13/cobra", "k8s.io", module + "/daemon", module + "/network", module + "/image"}, "the init binary starts once per container: it links the runtime only"},
		// Docker's wire types belong to the Docker API's front door: the
		// service layer below it speaks its own typed requests.
		{"daemon", []string{"github.com/moby/moby", module + "/dockerapi"}, "the Docker API's types stay in dockerapi"},
		{"api", []string{"github.com/moby/moby"}, "the Docker API's types stay in dockerapi"},
	}
	for _, p := range listPackages(t) {
		r := rel(p.ImportPath)
		if r == "cmd/stack" {
			for _, dep := range p.Deps {
				if strings.HasPrefix(dep, "k8s.io/") || dep == module+"/kube" {
					t.Errorf("cmd/stack depends on %s: the kube commands run stack-kube, so that stack and its daemon carry no client-go", dep)
				}
			}
		}
		if !strings.HasPrefix(r, "cmd") && contains(p.Imports, "github.com/spf13/cobra") {
			t.Errorf("%s imports cobra: only cmd/stack may", r)
		}
		for _, rule := range rules {
			// Test-support packages (internal/testutil, conformance suites
			// such as image/imagetest) exist to import testing.
			if !strings.HasPrefix(r, rule.pkgPrefix) || strings.HasSuffix(r, "test") || r == "internal/testutil" {
				continue
			}
			for _, dep := range append(p.Deps, p.Imports...) {
				for _, bad := range rule.forbidden {
					// The bench drives the clients users run, and
					// testcontainers (a test library) imports testing.
					if r == "bench" && bad == "testing" {
						continue
					}
					if dep == bad || strings.HasPrefix(dep, bad+"/") {
						t.Errorf("%s depends on %s: %s", r, dep, rule.why)
					}
				}
			}
		}
	}
}

// TestKubeConversionPure keeps client-go out of package kube: the
// conversion makes objects, and only kube/cluster talks to clusters.
func TestKubeConversionPure(t *testing.T) {
	for _, p := range listPackages(t) {
		if rel(p.ImportPath) != "kube" {
			continue
		}
		for _, dep := range p.Deps {
			if strings.HasPrefix(dep, "k8s.io/client-go/") {
				t.Errorf("kube depends on %s: only kube/cluster may use client-go", dep)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestInitBinaryIsLean keeps stack-init what it is for: built as make
// build builds it (-tags stackinit), package runtime leaves its host side
// out, and with it cgroups and what cgroups links (eBPF, D-Bus, protobuf).
func TestInitBinaryIsLean(t *testing.T) {
	for _, dep := range depsWithPrefix(t, "stackinit", "./cmd/stack-init", "github.com/containerd/", "github.com/cilium/", "github.com/godbus/", "google.golang.org/protobuf") {
		t.Errorf("stack-init (-tags stackinit) depends on %s: the init's side of package runtime must not reach the host side", dep)
	}
	// It must also build: a file of the init's side that calls into the
	// host side compiles in the whole package but not in this one.
	build := exec.Command("go", "build", "-tags", "stackinit", "-o", os.DevNull, "./cmd/stack-init")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags stackinit ./cmd/stack-init: %v\n%s", err, out)
	}
}

// TestDaemonBinaryLeavesCgroupsOut keeps stack-daemon (-tags stackdaemon)
// without containerd/cgroups and what it links (eBPF, D-Bus): the daemon
// does what it does with a container's cgroup through the cgroup's files
// (runtime/cgroupfs_linux.go), so the resident process maps none of it.
func TestDaemonBinaryLeavesCgroupsOut(t *testing.T) {
	for _, dep := range depsWithPrefix(t, "stackdaemon", "./cmd/stack", "github.com/containerd/cgroups", "github.com/cilium/", "github.com/godbus/") {
		t.Errorf("stack-daemon (-tags stackdaemon) depends on %s: the daemon's side of package runtime must not reach the shim's side of cgroups", dep)
	}
}

// TestDaemonBinaryLeavesBuilderOut keeps stack-daemon without the image
// builder and what it links (buildkit's Dockerfile parser, and protobuf
// through it): builds run in a process of their own, from stack
// (daemon/buildproc_linux.go), so the resident process maps none of it.
func TestDaemonBinaryLeavesBuilderOut(t *testing.T) {
	for _, dep := range depsWithPrefix(t, "stackdaemon", "./cmd/stack", "github.com/stack-dev/stack/image/build", "github.com/moby/buildkit/frontend/dockerfile/parser", "google.golang.org/protobuf/") {
		t.Errorf("stack-daemon (-tags stackdaemon) depends on %s: builds belong to the build worker (daemon/buildworker_linux.go)", dep)
	}
}

// depsWithPrefix lists the packages pkg depends on, built with tag, whose
// paths start with one of prefixes.
func depsWithPrefix(t *testing.T, tag, pkg string, prefixes ...string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-tags", tag, "-deps", pkg)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -tags %s %s: %v", tag, pkg, err)
	}
	var found []string
	for _, dep := range strings.Fields(string(out)) {
		for _, p := range prefixes {
			if strings.HasPrefix(dep, p) {
				found = append(found, dep)
			}
		}
	}
	return found
}
