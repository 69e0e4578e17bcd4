#!/bin/bash
# submit.sh MATRIX OUT N [--wait] [--report] [-- SBATCH_ARGS...]
#
# Runs a matrix on a Slurm cluster: a job array of N tasks, task I running
# `mmlab run MATRIX --shard I/N -o OUT/shard-I`, then a job that waits for
# all of them (afterany) and merges the shards into OUT/merged (mmlab merge,
# which checks that every cell is there once). Prints both job ids.
# --wait returns when the merge job has ended, with its exit status.
# OUT must be on a file system every node sees; MMLAB (default: this
# tree's build/bin/mmlab) must run on every node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "submit.sh: $*" >&2; exit 2; }
[[ $# -ge 3 ]] || die "usage: submit.sh MATRIX OUT N [--wait] [--report] [-- SBATCH_ARGS...]"
matrix=$(realpath "$1"); out=$(realpath -m "$2"); n=$3; shift 3
[[ -f "$matrix" ]] || die "no matrix file $1"
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$n'"
wait=0; report=0; extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --wait) wait=1 ;;
    --report) report=1 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
mmlab=${MMLAB:-$(realpath "$here/../../build/bin/mmlab")}
[[ -x "$mmlab" ]] || die "$mmlab is not built (make build)"
mkdir -p "$out/slurm-logs"
export MMLAB="$mmlab" MATRIX="$matrix" OUT="$out" REPORT="$report"
array=$(sbatch --parsable --array="0-$((n - 1))" --export=ALL -o "$out/slurm-logs/shard-%a.out" \
  "${extra[@]}" "$here/mmlab-shard.sbatch")
array=${array%%;*}
wait_opt=()
[[ $wait == 1 ]] && wait_opt=(--wait)
echo "submit.sh: array job $array ($n shards of $matrix into $out)"
merge=$(sbatch --parsable --dependency="afterany:$array" --export=ALL -o "$out/slurm-logs/merge.out" \
  "${wait_opt[@]}" "${extra[@]}" "$here/mmlab-merge.sbatch") || { echo "submit.sh: the merge job failed: see $out/slurm-logs/merge.out" >&2; exit 1; }
echo "submit.sh: merge job ${merge%%;*} -> $out/merged"
