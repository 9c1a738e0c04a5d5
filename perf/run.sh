#!/bin/sh
# The whole benchmark in one command, on a fresh Debian 12 machine:
#
#   perf/run.sh [bench.py options]
#
# 1. installs the Debian packages (tools/install-deps.sh; nothing to do when
#    they are there already; uses sudo when not root),
# 2. makes a Release build of ringfetch in build-perf/ (PERF_BUILD_DIR=DIR to
#    change), from the working tree, or with PERF_HEAD_ONLY=1 from a clean
#    export of the HEAD commit (so that uncommitted changes of others cannot
#    leak into the numbers),
# 3. runs perf/bench.py, which writes perf/RESULTS.md (full runs) and a dated
#    copy in perf/results/. About 6-8 minutes; run it as root (nginx, open files).
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ "${PERF_SKIP_DEPS:-0}" != 1 ]; then
  tools/install-deps.sh
fi

build=${PERF_BUILD_DIR:-build-perf}
src=$repo
extra=""
if [ "${PERF_HEAD_ONLY:-0}" = 1 ]; then
  src=$build/src-head
  rm -rf "$src"
  mkdir -p "$src"
  git -C "$repo" archive HEAD | tar -x -C "$src"
  extra="--built-from-head"
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)" --target ringfetch

invoked="perf/run.sh"
for v in PERF_HEAD_ONLY PERF_BUILD_DIR PERF_SKIP_DEPS; do
  eval "val=\${$v:-}"
  [ -n "$val" ] && invoked="$v=$val $invoked"
done
PERF_INVOKED_AS="$invoked${*:+ $*}"
export PERF_INVOKED_AS
# shellcheck disable=SC2086
exec python3 perf/bench.py --ringfetch "$build/ringfetch" $extra "$@"
