#!/usr/bin/env bash
# bindir.sh prints the cache directory that build.sh fills and the tests
# read: one per version of the tools module, so a change of pins builds
# anew instead of reusing stale binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sum=$(cat "$here/tools/go.mod" "$here/tools/go.sum" | sha256sum | cut -c1-12)
echo "${XDG_CACHE_HOME:-$HOME/.cache}/stack-kube/$sum"
