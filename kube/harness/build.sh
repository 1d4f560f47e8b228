#!/usr/bin/env bash
# build.sh builds the control-plane programs that the kube API-server tests
# run (kube-apiserver, kube-controller-manager, kube-scheduler, etcd and
# kwok) from the pinned tools module beside this script, into a cache
# directory that survives across runs: a binary already there is not built
# again. It prints the directory on its last line.
#
#   STACK_KUBE_BIN   where the binaries go (default: the cache directory
#                    below, keyed by the tools module's go.sum)
#   BUILD_P          go build -p (default: the number of cores)
#
# Measured cold with BUILD_P=1 on 2 cores shared with other builds: etcd
# 157 s, kube-apiserver 975 s, kube-controller-manager 476 s,
# kube-scheduler 21 s, kwok 32 s (28 minutes); with both cores to itself,
# as in CI, about half that. A warm run takes a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=$here/tools
dir=${STACK_KUBE_BIN:-$("$here/bindir.sh")}
mkdir -p "$dir"

kver=$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$tools/go.mod")
minor=$(echo "$kver" | cut -d. -f2)
# The API server refuses clients, and kwok and the controller-manager
# misjudge it, when its version is the v0.0.0 of an unstamped build.
vpkg=k8s.io/component-base/version
ldv="-X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
ldv="$ldv -X k8s.io/client-go/pkg/version.gitVersion=$kver -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build() { # name package
  local name=$1 pkg=$2
  [ -x "$dir/$name" ] && return 0
  echo "build $name ($pkg)" >&2
  local start=$SECONDS
  (cd "$tools" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    go build -p "${BUILD_P:-$(nproc)}" -trimpath -ldflags "-s -w $ldv" -o "$dir/$name.tmp" "$pkg")
  mv "$dir/$name.tmp" "$dir/$name"
  echo "built $name in $((SECONDS - start))s" >&2
}

build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kwok sigs.k8s.io/kwok/cmd/kwok

# kwok moves fake nodes and pods through the stages of its configuration:
# its own "fast" stages (nodes Ready at once; pods scheduled become
# Running and Ready, deleted pods go), from the pinned kwok module.
if [ ! -s "$dir/kwok-stages.yaml" ]; then
  kwok_dir=$(cd "$tools" && GOWORK=off go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  for f in "$kwok_dir"/kustomize/stage/node/fast/node-initialize.yaml "$kwok_dir"/kustomize/stage/pod/fast/pod-*.yaml; do
    echo "---"
    cat "$f"
  done >"$dir/kwok-stages.yaml.tmp"
  mv "$dir/kwok-stages.yaml.tmp" "$dir/kwok-stages.yaml"
fi
echo "$dir"
