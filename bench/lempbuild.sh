#!/usr/bin/env bash
# Wall time of `up -d --build` of examples/lemp (three images built FROM
# debian:bookworm, with apt-get steps) on a fresh engine, so nothing comes
# from the build cache. As root. Usage:
#
#   bench/lempbuild.sh LABEL STACK_BINARY [GLOBAL_FLAGS...]
#
# e.g. `bench/lempbuild.sh parallel bin/stack` and
# `bench/lempbuild.sh serial bin/stack --parallel 1`. Prints one line:
# LABEL SECONDS. The Debian base comes from the tarball `stack image
# bootstrap` caches, when BOOTSTRAP_TAR names one, else from mmdebstrap.
# LEMP_CMD=build times the builds alone (default: up -d --build).
set -euo pipefail
label=$1 bin=$(readlink -f "$2"); shift 2
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/lempbuild.XXXXXX)
export STACK_STATE_ROOT=$work/root STACK_HOST=unix://$work/stack.sock
export STACK_NFT_TABLE=stackbench_$$ STACK_CGROUP_PARENT=stack-bench/$$ LEMP_HTTP_PORT=${LEMP_HTTP_PORT:-18480}
cleanup() {
  (cd "$work/lemp" && "$bin" down -v -t 0 >/dev/null 2>&1) || true
  [ -f "$work/root/daemon.pid" ] && kill "$(cat "$work/root/daemon.pid")" 2>/dev/null && sleep 1
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$repo/examples/lemp" "$work/lemp"
if [ -n "${BOOTSTRAP_TAR:-}" ]; then
  mkdir -p "$work/root/cache/bootstrap" && cp "$BOOTSTRAP_TAR" "$work/root/cache/bootstrap/"
fi
"$bin" image bootstrap debian:bookworm >/dev/null 2>&1
cd "$work/lemp"
start=$(date +%s.%N)
# shellcheck disable=SC2086
"$bin" "$@" ${LEMP_CMD:-up -d --build} >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
end=$(date +%s.%N)
awk -v l="$label" -v s="$start" -v e="$end" 'BEGIN { printf "%s %.1f\n", l, e - s }'
