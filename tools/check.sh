#!/bin/sh
# Builds ringfetch twice (release and ASan+UBSan) and runs the whole test
# suite on both. This is the README's test command and what CI runs.
#   tools/check.sh            both builds
#   RF_CHECK_ONLY=release|asan|fuzz tools/check.sh
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
only=${RF_CHECK_ONLY:-}

run() { # build-dir cmake-args...
  dir=$1; shift
  echo "== $dir: configure + build"
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "== $dir: tests"
  ctest --test-dir "$dir" --output-on-failure -j1 --timeout 600
}

if [ -z "$only" ] || [ "$only" = release ]; then
  run build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
if [ -z "$only" ] || [ "$only" = asan ]; then
  # detect_leaks: BoringSSL and c-ares keep process-wide caches by design.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run build-asan -DCMAKE_BUILD_TYPE=Debug -DRF_SANITIZE=ON
fi
if [ -z "$only" ] || [ "$only" = fuzz ]; then
  # libFuzzer smoke runs of the parsers (clang only); longer runs by hand.
  if command -v clang >/dev/null 2>&1; then
    echo "== build-fuzz: configure + build"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_FUZZ=ON >/dev/null
    cmake --build build-fuzz -j"$jobs" --target fuzz_url fuzz_response fuzz_location fuzz_decode fuzz_robots fuzz_warc fuzz_input fuzz_h2
    ctest --test-dir build-fuzz -L fuzz --output-on-failure
  else
    echo "== build-fuzz: skipped (clang not installed)"
  fi
fi
echo "== all tests passed"
