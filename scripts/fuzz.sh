#!/usr/bin/env bash
# fuzz.sh SECONDS [TARGET...]
#
# Builds the libFuzzer targets (fuzz/, clang with address and undefined
# sanitizers) in build-fuzz/ and runs each for SECONDS from its checked-in
# corpus (fuzz/corpus/NAME; new inputs go to build-fuzz/corpus/NAME, never
# into the repository). A crash, leak or sanitizer report fails it; the input
# that did it is in build-fuzz/artifacts/. Prints each target's runs and
# coverage and the CPU time it had (a long run beside other work, or under
# `chrt --idle 0`, gets less CPU than wall time). FUZZ_TIMEOUT: libFuzzer's
# per-input limit in s (10; a starved process wants more). `make fuzz-smoke`
# (in make test): 6 s each; `make fuzz`: 300 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:?usage: fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(elf cpio cmdline cpu_tables matrix records)
build=$root/build-fuzz
cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
# Quiet, but a build that fails says why (ninja prints the compiler's errors on stdout).
if ! out=$(cmake --build "$build" -j "$(nproc)" 2>&1); then
  printf '%s\n' "$out" | grep -E -A5 'error|undefined reference' | head -60 >&2
  echo "fuzz: the fuzz targets do not build (above)" >&2
  exit 1
fi
mkdir -p "$build/artifacts"
status=0
pids=()
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  (
    cd "$build"
    if "./fuzz_$t" "$build/corpus/$t" "$root/fuzz/corpus/$t" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" \
      -rss_limit_mb=2048 -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 >"$build/$t.log" 2>&1; then
      runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$t.log" | grep -o '[0-9]*$' || echo '?')
      cov=$(grep -o 'cov: [0-9]*' "$build/$t.log" | tail -1 | grep -o '[0-9]*' || echo '?')
      # `times`, second line: this subshell's children (the fuzzer), user and system CPU.
      times >"$build/$t.times"  # not in a pipe: a subshell's children are not this one's
      cpu=$(tail -1 "$build/$t.times" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
      echo "fuzz: $t: $runs runs in ${secs} s (${cpu} s of CPU), coverage $cov, no crash"
    else
      echo "fuzz: $t: FAILED (see $build/$t.log and $build/artifacts/)" >&2
      tail -30 "$build/$t.log" >&2
      exit 1
    fi
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
