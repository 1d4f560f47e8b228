#!/usr/bin/env bash
# `up -d` of examples/lemp with and without user namespaces, on one engine
# whose images are built (the first, untimed up -d --build builds them):
# for each mode the daemon is restarted with it (STACK_USERNS_REMAP
# default or host), then RUNS times `up -d` until the page answers and
# `down` (the database volume is kept, so mariadb does not initialise
# again; LEMP_FRESH=1 runs down -v instead). As root. Usage:
#
#   bench/lempup.sh STACK_BINARY [RUNS]
#
# Prints one line per mode: MODE up -d to the first 200 in ms, median and
# min of the runs. The Debian base comes from BOOTSTRAP_TAR when it names
# the tarball `stack image bootstrap` caches, else from mmdebstrap.
set -euo pipefail
bin=$(readlink -f "$1") runs=${2:-7}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/lempup.XXXXXX)
export STACK_STATE_ROOT=$work/root STACK_HOST=unix://$work/stack.sock
export STACK_NFT_TABLE=stackbench_$$ STACK_CGROUP_PARENT=stack-bench/$$ LEMP_HTTP_PORT=${LEMP_HTTP_PORT:-18481}
# A pool of the bench's own: /etc/subuid is left alone.
export STACK_USERNS_RANGE=3900000000:1048576
stop_daemon() {
  if [ -f "$work/root/daemon.pid" ]; then
    pid=$(cat "$work/root/daemon.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
}
cleanup() {
  (cd "$work/lemp" && "$bin" down -v -t 0 >/dev/null 2>&1) || true
  stop_daemon
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$repo/examples/lemp" "$work/lemp"
if [ -n "${BOOTSTRAP_TAR:-}" ]; then
  mkdir -p "$work/root/cache/bootstrap" && cp "$BOOTSTRAP_TAR" "$work/root/cache/bootstrap/"
fi
"$bin" image bootstrap debian:bookworm >/dev/null 2>&1
cd "$work/lemp"
"$bin" up -d --build >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
"$bin" down -t 0 >/dev/null 2>&1
url=http://127.0.0.1:$LEMP_HTTP_PORT/
down=(down -t 0)
[ -n "${LEMP_FRESH:-}" ] && down=(down -v -t 0)
for mode in default host; do
  stop_daemon
  export STACK_USERNS_REMAP=$mode
  "$bin" ps >/dev/null 2>&1 # the daemon, started with the mode
  times=()
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
    until curl -fsS -o /dev/null "$url" 2>/dev/null; do sleep 0.02; done
    end=$(date +%s%N)
    times+=($(((end - start) / 1000000)))
    "$bin" "${down[@]}" >/dev/null 2>&1
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v m="$mode" '{ a[NR] = $1 } END { printf "%s median %d ms, min %d ms (%d runs)\n", m, a[int((NR + 1) / 2)], a[1], NR }'
done
