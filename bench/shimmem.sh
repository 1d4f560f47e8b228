#!/bin/sh
# shimmem.sh measures the memory of the shims of running containers: it
# builds the stack binary (CGO_ENABLED=0, as bench does), starts N
# containers running "sleep 3600" through a scratch daemon, and prints
# each shim's VmRSS and its smaps_rollup (Pss, anonymous and file-backed
# pages), then the medians. Root only; everything is removed at the end.
#
#	sh bench/shimmem.sh [N]    # STACK_BIN=path: use that binary instead of building
set -eu
n=${1:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/stack-shimmem-XXXXXX)
bin=$tmp/stack
export STACK_HOST=unix://$tmp/stack.sock STACK_STATE_ROOT=$tmp/state \
	STACK_NFT_TABLE=stackshimmem STACK_CGROUP_PARENT=stack-shimmem
cleanup() {
	"$bin" -p shimmem -f "$tmp/stack.yaml" down -t 0 >/dev/null 2>&1 || true
	if pid=$(cat "$tmp/state/daemon.pid" 2>/dev/null); then
		kill "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	nft delete table inet stackshimmem 2>/dev/null || true
	for d in /sys/fs/cgroup/*/stack-shimmem /sys/fs/cgroup/stack-shimmem; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
if [ -n "${STACK_BIN:-}" ]; then cp "$STACK_BIN" "$bin"; else (cd "$repo" && CGO_ENABLED=0 go build -o "$bin" ./cmd/stack); fi
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc" "$tmp/rootfs/proc" "$tmp/rootfs/sys" "$tmp/rootfs/dev" "$tmp/rootfs/tmp"
cp /bin/busybox "$tmp/rootfs/bin/busybox"
for c in sh sleep; do ln -s busybox "$tmp/rootfs/bin/$c"; done
"$bin" image import --rootfs "$tmp/rootfs" shimmem-busybox >/dev/null
{
	echo "services:"
	i=0
	while [ $i -lt "$n" ]; do
		printf '  s%d:\n    image: shimmem-busybox\n    command: ["sleep", "3600"]\n    stop_signal: SIGKILL\n' $i
		i=$((i + 1))
	done
} >"$tmp/stack.yaml"
"$bin" -p shimmem -f "$tmp/stack.yaml" up -d >/dev/null
sleep 1
printf '%8s %8s %8s %8s %8s %8s\n' pid rss_kib pss_kib anon_kib file_kib threads
for d in /proc/[0-9]*; do
	[ "$(readlink "$d/exe" 2>/dev/null)" = "$bin" ] || continue
	[ "$(tr '\0' ' ' <"$d/cmdline")" = "stack-shim init " ] || continue
	awk -v pid="${d#/proc/}" '
		FILENAME ~ /status$/ && $1 == "VmRSS:" { rss = $2 }
		FILENAME ~ /status$/ && $1 == "Threads:" { thr = $2 }
		FILENAME ~ /smaps_rollup$/ && $1 == "Pss:" { pss = $2 }
		FILENAME ~ /smaps_rollup$/ && $1 == "Pss_Anon:" { anon = $2 }
		FILENAME ~ /smaps_rollup$/ && $1 == "Pss_File:" { file = $2 }
		END { printf "%8s %8d %8d %8d %8d %8d\n", pid, rss, pss, anon, file, thr }
	' "$d/status" "$d/smaps_rollup"
done >"$tmp/rows"
cat "$tmp/rows"
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1024 }'; }
echo "median of $(wc -l <"$tmp/rows") shims: RSS $(cut -c10-17 "$tmp/rows" | median) MiB," \
	"Pss $(cut -c19-26 "$tmp/rows" | median) MiB, Pss_Anon $(cut -c28-35 "$tmp/rows" | median) MiB"
[ -z "${SHIMMEM_HOLD:-}" ] || sleep "$SHIMMEM_HOLD"
