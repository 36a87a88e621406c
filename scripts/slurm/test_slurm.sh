#!/bin/bash
# End-to-end test of `atlas plan slurm` on a real Slurm: starts a private single-node cluster on localhost
# (munged + slurmctld + slurmd from Debian's slurm-wlm, config and state in a temporary folder, odd ports),
# submits the plan's 4-task job array rendering a small gallery of the bundled Fashion-MNIST model plus its
# afterok merge job, and a 3-task sharded activation collection plus its merge, waits (bounded), and compares
# both merged folders byte for byte with single-process runs.
# Prints PASS or FAIL (exit 0 / 1) and stops only the daemons it started.
#
#   scripts/slurm/test_slurm.sh [path/to/atlas]        (default .build/release/atlas; KEEP=1 keeps the folder)
#
# Needs root (installs slurm-wlm and munge with apt-get when missing; the daemons run as root).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
atlas=$(realpath -m "${1:-$repo/.build/release/atlas}")
model="$repo/Assets/fashion-mnist/fashion_cnn.onnx"
timeout_s=${ATLAS_SLURM_TIMEOUT:-600}
gallery=(gallery "$model" --layer features.conv3.0 --channels 0..11 --size 32 --steps 24 --seed 7 --format png)
collect=(collect "$model" --images "$repo/Assets/fashion-mnist/t10k-2000-images-idx3-ubyte.gz" --layer features.conv3.0
         --limit 300 --part-images 50 --per-image 2 --seed 3)
started=$(date +%s)

say() { echo "[slurm-test $(($(date +%s) - started))s] $*"; }
[ -x "$atlas" ] || { echo "FAIL: no atlas binary at $atlas (swift build -c release --product atlas)"; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/atlas-slurm.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/munge" "$work/state" "$work/spool"
chmod 700 "$work/munge"
cleanup() {
    local rc=$?
    local stopping=()
    for pidfile in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid"; do
        if [ -s "$pidfile" ]; then
            stopping+=("$(cat "$pidfile")")
            kill "${stopping[-1]}" 2>/dev/null || true
        fi
    done
    for pid in "${stopping[@]}"; do     # wait (bounded) until the daemons are gone
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    done
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Private munge: own key, socket and pid file.
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
munged --force --key-file="$work/munge/munge.key" --socket="$socket" --pid-file="$work/munge/munged.pid" \
       --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"

port=$((20000 + RANDOM % 20000))
cat >"$work/slurm.conf" <<CONF
ClusterName=atlastest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=kill_invalid_depend
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=900
MpiDefault=none
NodeName=localhost CPUs=2 State=UNKNOWN
PartitionName=atlas Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"

slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || { echo "FAIL: node not idle (state '$state')"; tail -5 "$work"/slurm*.log; exit 1; }
say "cluster up: $(sinfo -h -o '%P %D node %c cpus %T') · slurm $(sinfo -V | cut -d' ' -f2)"

out="$work/out" acts="$work/acts"
"$atlas" plan slurm --shards 4 --cpus 1 --time 15:00 --atlas "$atlas" -- "${gallery[@]}" --out "$out" >"$work/submit.sh"
"$atlas" plan slurm --shards 3 --cpus 1 --time 15:00 --atlas "$atlas" -- "${collect[@]}" --out "$acts" >"$work/submit-collect.sh"
job_ids() {   # the array and merge job ids printed by a submit script
    local submitted
    submitted=$(bash "$1")
    echo "$submitted" >&2
    echo "$(sed -n 's/^shards: job array \([0-9]*\).*/\1/p' <<<"$submitted") $(sed -n 's/.*merge: job \([0-9]*\).*/\1/p' <<<"$submitted")"
}
read -r array_id merge_id <<<"$(job_ids "$work/submit.sh")"
read -r collect_array_id collect_merge_id <<<"$(job_ids "$work/submit-collect.sh")"
[ -n "$array_id" ] && [ -n "$merge_id" ] && [ -n "$collect_array_id" ] && [ -n "$collect_merge_id" ] || {
    echo "FAIL: could not read the job ids"; exit 1; }

say "single-process reference runs meanwhile"
ATLAS_THREADS=1 "$atlas" "${gallery[@]}" --out "$work/single" --quiet
ATLAS_THREADS=1 "$atlas" "${collect[@]}" --out "$work/acts-single" --quiet

job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
finished() { case "$1" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|"") return 0 ;; *) return 1 ;; esac; }
merge_state=PENDING collect_merge_state=PENDING
while [ $(($(date +%s) - started)) -lt "$timeout_s" ]; do
    merge_state=$(job_state "$merge_id")
    collect_merge_state=$(job_state "$collect_merge_id")
    finished "$merge_state" && finished "$collect_merge_state" && break
    sleep 2
done
for job in "$array_id" "$collect_array_id"; do
    say "array $job tasks: $(scontrol show job "$job" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort | uniq -c | xargs)"
done
say "merge jobs: gallery $merge_id ${merge_state:-unknown} · collect $collect_merge_id ${collect_merge_state:-unknown}"
ls "$out/shards/logs" "$acts/shards/logs" | sed 's/^/  log: /'

if [ "$merge_state" != COMPLETED ] || [ "$collect_merge_state" != COMPLETED ]; then
    echo "FAIL: merge jobs ended $merge_state (gallery), $collect_merge_state (collect)"
    tail -n 20 "$out"/shards/logs/* "$acts"/shards/logs/* "$work/slurmctld.log" 2>/dev/null | tail -n 60
    exit 1
fi
shard_logs=$(ls "$out/shards/logs" | grep -c -- '-merge-' || true)
manifests=$(ls "$out/shards"/gallery-*-of-4.json | wc -l)
collect_manifests=$(ls "$acts/shards"/collect-*-of-3.json | wc -l)
files=$(cd "$work/single" && find . -type f | wc -l)
collect_files=$(cd "$work/acts-single" && find . -type f | wc -l)
status=0
if [ "$manifests" -eq 4 ] && diff -r --exclude=shards "$work/single" "$out" >/dev/null; then
    say "merged gallery = single run: $files files byte-identical (shards/ holds 4 manifests + logs, $shard_logs merge log)"
else
    diff -rq --exclude=shards "$work/single" "$out" | head
    echo "FAIL: merged gallery differs from the single run ($manifests manifests)"
    status=1
fi
if [ "$collect_manifests" -eq 3 ] && [ "$collect_files" -gt 1 ] && diff -r --exclude=shards "$work/acts-single" "$acts" >/dev/null; then
    say "merged collection = single run: $collect_files files byte-identical (collect.json + $((collect_files - 1)) part files)"
else
    diff -rq --exclude=shards "$work/acts-single" "$acts" | head
    echo "FAIL: merged collection differs from the single run ($collect_manifests manifests)"
    status=1
fi
[ $status -eq 0 ] && echo PASS || exit 1
