#!/bin/sh
# The fuzzing figures: builds the libFuzzer targets (clang, -DRF_FUZZ=ON) and
# runs each for SECONDS (default 60) from its seed corpus plus whatever the
# earlier runs found (build-fuzz/tests/fuzz/corpus-NAME), then writes one
# table of executions, executions per second, coverage (libFuzzer's "cov":
# edges, "ft": features) and corpus size per target to
# perf/results/fuzz-DATE-COMMIT.md and prints it. A crash stops that target's
# run, is named in the table, and leaves its input in build-fuzz/tests/fuzz/
# (turn it into a regression test: a seed in tests/fuzz/corpus/NAME and a
# unit test).
#   perf/fuzz.sh [SECONDS] [TARGET...]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"fuzz_url fuzz_response fuzz_location fuzz_decode fuzz_robots fuzz_warc fuzz_input"}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_FUZZ=ON >/dev/null
# shellcheck disable=SC2086
cmake --build build-fuzz -j2 --target $targets >/dev/null
commit=$(git rev-parse --short HEAD)
out=perf/results/fuzz-$(date -u +%Y-%m-%d)-$commit.md
{
  echo "# Fuzzing figures"
  echo
  echo "Commit \`$commit\`, $(date -u '+%Y-%m-%d %H:%M') UTC, $secs s per target on $(nproc) cores" \
    "(load average at start: $(cut -d' ' -f1-3 /proc/loadavg)). Command: \`perf/fuzz.sh $secs\`."
  echo
  echo "| target | runs | exec/s | cov (edges) | ft (features) | corpus (files / bytes) | result |"
  echo "|---|---:|---:|---:|---:|---:|---|"
} >"$out"
for t in $targets; do
  dir=build-fuzz/tests/fuzz
  mkdir -p "$dir/corpus-$t"
  maxlen=4096
  [ "$t" = fuzz_input ] && maxlen=140000
  log=$dir/$t.long.log
  result=ok
  (cd "$dir" && ./"$t" -max_total_time="$secs" -max_len=$maxlen -print_final_stats=1 \
      "corpus-$t" "$PWD/../../../tests/fuzz/corpus/$t") >"$log" 2>&1 || result="CRASH (see $log)"
  last=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1)
  runs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
  eps=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
  echo "| $t | $runs | $eps | $cov | $ft | $corp | $result |" >>"$out"
done
cat "$out"
