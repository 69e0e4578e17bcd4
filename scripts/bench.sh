#!/usr/bin/env bash
# Runs the mm-core microbenchmarks (kernel_mm/bench, target mm_bench) and
# writes, always:
#   results/bench/mm_bench.json   Google Benchmark JSON (context + every run)
#   results/bench/summary.md      one table per benchmark family, key counters
#
# Usage: scripts/bench.sh BUILD_DIR [mm_bench args...]
#   scripts/bench.sh build
#   scripts/bench.sh /tmp/hb --benchmark_filter=BM_Fork
#   scripts/bench.sh build --benchmark_repetitions=5 --mm_max_threads=16
# Extra arguments go to mm_bench as they are, after the defaults below, so
# they override them (Google Benchmark keeps the last value of a flag).
# MM_BENCH_OUT_DIR overrides the output directory.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [mm_bench args...]" >&2
  exit 2
fi
build=$1
shift

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$build/kernel_mm/bench/mm_bench"
if [ ! -x "$bin" ]; then
  echo "bench: $bin not found; build it first: cmake --build $build --target mm_bench" >&2
  exit 1
fi

out_dir=${MM_BENCH_OUT_DIR:-$root/results/bench}
mkdir -p "$out_dir"
json="$out_dir/mm_bench.json"
summary="$out_dir/summary.md"

# 0.5 s of measured time per benchmark (Google Benchmark's default, made
# explicit) keeps the full run (55 benchmarks) to about two minutes on a
# 2-core host; most families spend more wall time in untimed setup than
# in the timed part. Pass --benchmark_min_time=0.1 for a quick look.
"$bin" --benchmark_min_time=0.5 --benchmark_out="$json" --benchmark_out_format=json "$@"

py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" "$root/scripts/bench_summary.py" "$json" "$summary"

echo "bench: JSON written to $json"
echo "bench: summary written to $summary"
