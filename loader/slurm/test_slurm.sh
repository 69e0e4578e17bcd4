#!/bin/bash
# The Slurm path end to end on this machine (make test-slurm, and part of
# make test): a one-node Slurm started by hand (no systemd here), a
# 4-shard job array of a 6-cell matrix, the merge job, and a check that the
# merged set holds every cell exactly once. The daemons are stopped and
# their files removed however the test ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mmlab=${MMLAB:-$root/build/bin/mmlab}
dir=$(mktemp -d /tmp/mmlab-slurm-XXXXXX)
chmod 755 "$dir"  # munged runs as munge and must reach its directory
say() { echo "test_slurm: $*"; }
stop() {
  for pid in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [[ -f $pid ]] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 0.3
  rm -rf "$dir"
}
trap stop EXIT
[[ -x $mmlab ]] || { say "$mmlab is not built"; exit 1; }

host=$(hostname)
port=$((20000 + RANDOM % 20000))
mkdir -p "$dir"/{state,spool,log,munge}
chown munge:munge "$dir/munge"
# munged: its own socket and pid file, so that it never meets another munged.
runuser -u munge -- /usr/sbin/munged --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed"
cp "$dir/munge/munged.pid" "$dir/munged.pid"
cat >"$dir/slurm.conf" <<CONF
ClusterName=mmlabtest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$port
SlurmdPort=$((port + 1))
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=mmlabtest Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld
slurmd
for _ in $(seq 50); do sinfo -h -o %t 2>/dev/null | grep -qx idle && break; sleep 0.2; done
sinfo -h -o %t | grep -qx idle || { say "the node did not come up"; cat "$dir"/log/*.log; exit 1; }

cat >"$dir/matrix.toml" <<'TOML'
name = "slurm"
repetitions = 3
[toggles]
"mm.pmd_prealloc" = ["on", "off"]
[[workload]]
name = "lat_proc"
args = ["-n", "3", "fork"]
TOML
start=$SECONDS
MMLAB=$mmlab "$root/loader/slurm/submit.sh" "$dir/matrix.toml" "$dir/out" 4 --wait
say "array + merge in $((SECONDS - start)) s"
for i in 0 1 2 3; do [[ -f $dir/out/shard-$i/cells.jsonl ]] || { say "shard $i wrote no result set"; exit 1; }; done
/usr/bin/python3 - "$dir/out" <<'PY'
import json, os, sys
out = sys.argv[1]
cells = [json.loads(l) for l in open(os.path.join(out, "merged", "cells.jsonl"))]
keys = [c["key"] for c in cells]
shards = [sum(1 for _ in open(os.path.join(out, f"shard-{i}", "cells.jsonl"))) for i in range(4)]
assert len(keys) == 6 and len(set(keys)) == 6, keys
assert sorted(shards) == [1, 1, 2, 2], shards  # cells 0..5 over 4 shards: i % 4
assert all(c["status"] == "ok" for c in cells), [c.get("reason") for c in cells]
m = json.load(open(os.path.join(out, "merged", "manifest.json")))
assert len(m["merged_from"]) == 4 and m["cells_merged"] == 6
assert sorted(x["shard"]["index"] for x in m["merged_from"]) == [0, 1, 2, 3]
print("test_slurm: 4 shards, 6 cells, each exactly once in the merged set")
PY
