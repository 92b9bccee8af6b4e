#!/usr/bin/env bash
# The hpc/*.sbatch scripts against a real SLURM started here (HPC_NOTES.md): munged, slurmctld and
# slurmd on localhost with all state in a temporary folder, found through SLURM_CONF.
# Usage: slurm_test.sh DECOUPLE_BINARY SOURCE_DIR
# Needs root (the daemons run as root and munge) and the packages slurm-wlm and munge, which it
# installs with apt-get when they are missing. It fails, never skips, when it cannot run.
# The daemons and the jobs are ended by their pids in an EXIT trap, also on failure or timeout;
# every wait has a deadline (SLURM_TEST_DEADLINE seconds in all, default 400) below ctest's.
set -euo pipefail

DECOUPLE_BIN=$(realpath "${1:?decouple binary}")
SRC=$(realpath "${2:?source dir}")
PY=/usr/bin/python3
HPC="$SRC/hpc"
CONFIG="$SRC/configs/reciprocal_40.toml"
SHORT=(--set run.periods=24) # a 24-month calibrated run: well under a second
deadline=$((SECONDS + ${SLURM_TEST_DEADLINE:-400}))

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
t0=$(date +%s.%N)
note() { echo "[$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%5.1f", b - a }') s] $*"; }

# A SLURM job around this test (ctest run inside an allocation) must not leak into ours.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM_|SBATCH_|SRUN_|SALLOC_)' || true)
unset DECOUPLE DECOUPLE_LAUNCH DECOUPLE_CHECKPOINT_EVERY DECOUPLE_MAX_REQUEUES

# ---- before any daemon: the scripts themselves ------------------------------------------------

scripts=(run ensemble merge long)
block() { sed -n '/^# ---- shared by hpc/,/^# ---- end of the shared block/p' "$HPC/$1.sbatch"; }
[[ -n "$(block run)" ]] || fail "hpc/run.sbatch has no shared block"
for s in "${scripts[@]}"; do
  [[ -x "$HPC/$s.sbatch" ]] || fail "hpc/$s.sbatch is missing or not executable"
  [[ "$(block "$s")" == "$(block run)" ]] || fail "hpc/$s.sbatch: shared block differs from run.sbatch's"
done
if command -v shellcheck >/dev/null; then
  shellcheck -x "$HPC"/*.sbatch "$SRC"/tests/hpc/*.sh || fail "shellcheck"
else
  echo "note: shellcheck not installed, scripts not linted"
fi
# Usage errors need no SLURM: exit status 2 and a usage line.
set +e
out=$(bash "$HPC/ensemble.sbatch" "$CONFIG" /nonexistent/x 2>&1)
rc=$?
set -e
[[ $rc -eq 2 && $out == *"not a job array task"* ]] ||
  fail "ensemble.sbatch outside an array: exit $rc (expected 2): $out"
for s in "${scripts[@]}"; do
  set +e
  out=$(bash "$HPC/$s.sbatch" 2>&1)
  rc=$?
  set -e
  [[ $rc -eq 2 && $out == usage:* ]] || fail "hpc/$s.sbatch without arguments: exit $rc: $out"
done

# ---- packages and privileges ------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "needs root to start munged/slurmctld/slurmd (SlurmUser=root); not skipped"
need=(sbatch srun squeue scontrol sinfo slurmctld slurmd /usr/sbin/munged)
missing=0
for c in "${need[@]}"; do command -v "$c" >/dev/null || missing=1; done
if ((missing)); then
  note "installing slurm-wlm munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null; } ||
    die "could not install slurm-wlm munge with apt-get"
  for c in "${need[@]}"; do command -v "$c" >/dev/null || die "$c missing after installing slurm-wlm munge"; done
fi
[[ -r /etc/munge/munge.key ]] || die "/etc/munge/munge.key is missing (the munge package creates it)"
"$PY" -c 'import h5py, numpy' 2>/dev/null || die "$PY lacks h5py/numpy (scripts/setup installs them)"

# ---- the cluster ------------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=slurm_cluster.sh
source "$SRC/tests/hpc/slurm_cluster.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/decouple-slurm.XXXXXX")
chmod 0755 "$tmp" # munged runs as user munge and needs to reach its folder inside
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  slurm_cluster_stop "$tmp/cluster" || true
  if ((rc != 0 || failures != 0)) && [[ -d $tmp/cluster/log ]]; then
    echo "---- slurmctld.log (last 20 lines)" >&2
    tail -n 20 "$tmp/cluster/log/slurmctld.log" >&2 || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted" >&2; exit 1' INT TERM

slurm_cluster_start "$tmp/cluster" || die "could not start the cluster (logs in $tmp/cluster/log)"
note "cluster up: $(sinfo -h -N -o '%N %T %c CPUs %m MB')"
srun --mpi=list 2>&1 | grep -qw pmix || fail "srun --mpi=list lacks pmix: $(srun --mpi=list 2>&1)"

work=$tmp/work
mkdir -p "$work"
cd "$work"
export DECOUPLE=$DECOUPLE_BIN
# mpirun refuses root without these (the mpirun launcher test); srun ignores them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The scripts ask for up to 4 GB per CPU; a small test machine gets less (memory is not a
# consumable resource here, but a request above the node's memory is refused). The scripts set
# --mem-per-cpu, and sbatch refuses --mem beside it, so the override is --mem-per-cpu too.
mem=()
node_mb=$(sinfo -h -N -o %m | head -n 1)
((node_mb >= 8400)) || mem=(--mem-per-cpu=200M)

# submit ARGS...: sbatch --parsable ARGS; prints the job id.
submit() {
  local id
  id=$(sbatch --parsable "${mem[@]}" "$@") || die "sbatch $*"
  echo "${id%%;*}"
}

# wait_job ID...: until no task of these jobs is pending or running (array tasks too), within the
# deadline. Sets $states to the last state seen of each task, as "task state" lines. squeue
# forgets a finished job after MinJobAge (4 s): polling every 0.25 s sees the end of every task
# that ends while it polls; a task that ended before keeps its last state seen (maybe none).
wait_job() {
  local s line
  local -A last=()
  while ((SECONDS < deadline)); do
    s=$(squeue -h -r -t all -o '%i %T' -j "$(IFS=,; echo "$*")" 2>/dev/null || true)
    while read -r line; do [[ -n $line ]] && last[${line% *}]=${line#* }; done <<<"$s"
    if ! grep -qE ' (PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SIGNALING|STAGE_OUT)$' <<<"$s"; then
      states=$(for t in "${!last[@]}"; do echo "$t ${last[$t]}"; done | sort)
      return 0
    fi
    sleep 0.25
  done
  squeue >&2 || true
  die "jobs $* not finished before the deadline"
}

# h5attr FILE NAME: a root attribute.
h5attr() { "$PY" -c 'import h5py,sys; v=h5py.File(sys.argv[1])["/"].attrs[sys.argv[2]]; print(v.decode() if isinstance(v,bytes) else v)' "$1" "$2"; }

# same_panels A B: every /panel column identical (NaN equal to NaN).
same_panels() {
  "$PY" - "$1" "$2" <<'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
names = sorted(a["panel"]), sorted(b["panel"])
if names[0] != names[1]:
    sys.exit(f"panels differ: {names}")
for p in names[0]:
    ga, gb = a["panel"][p], b["panel"][p]
    if sorted(ga) != sorted(gb):
        sys.exit(f"{p}: columns differ")
    for c in ga:
        x, y = ga[c][:], gb[c][:]
        eq = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
        if not eq:
            sys.exit(f"{p}/{c} differs")
EOF
}

# ---- 1. an ensemble array, a failing array, and a merge that depends on the first ------------

ens=$(submit --array=0-3 "$HPC/ensemble.sbatch" "$CONFIG" ens "${SHORT[@]}")
bad=$(submit --array=0-1 "$HPC/ensemble.sbatch" "$CONFIG" bad --set run.periods=abc)
merge=$(submit --dependency=afterany:"$ens" "$HPC/merge.sbatch" ens)
note "submitted ensemble $ens (4 tasks), failing ensemble $bad (2 tasks), merge $merge"
wait_job "$ens" "$bad" "$merge"
note "ensembles and merge done: ${states//$'\n'/, }"
# Both failing tasks end FAILED (exit status 2), unless squeue forgot them before a poll saw it.
for t in "${bad}_0" "${bad}_1"; do
  st=$(awk -v t="$t" '$1 == t { print $2 }' <<<"$states")
  case $st in
    FAILED) ;;
    COMPLETED | CANCELLED | TIMEOUT | OUT_OF_MEMORY | NODE_FAIL) fail "failing task $t ended $st" ;;
    *) echo "note: the end of task $t was not seen (last seen: ${st:-nothing})" ;;
  esac
done

for i in 0 1 2 3; do
  f=ens/rep_$i.h5
  if [[ ! -f $f ]]; then
    fail "$f missing; log: $(cat "decouple-ens-${ens}_$i.out" 2>&1)"
    continue
  fi
  [[ "$(h5attr "$f" replicate)" == "$i" ]] || fail "$f: attribute replicate is not $i"
  [[ "$(h5attr "$f" periods)" == 24 ]] || fail "$f: periods is not 24 (extra arguments not passed)"
  [[ ! -e ens/rep_$i.failed ]] || fail "ens/rep_$i.failed exists: $(cat "ens/rep_$i.failed")"
done
seeds=$(for i in 0 1 2 3; do h5attr "ens/rep_$i.h5" seed 2>/dev/null || true; done | sort -u | wc -l)
[[ $seeds -eq 4 ]] || fail "the 4 replicates have $seeds distinct seeds"
[[ -z "$(ls ens/*.partial 2>/dev/null)" ]] || fail "partial files left in ens/"

expect='--set:1:1: run.periods: expected an integer, got a string'
for i in 0 1; do
  f=bad/rep_$i.failed
  if [[ ! -f $f ]]; then
    fail "$f missing; log: $(cat "decouple-ens-${bad}_$i.out" 2>&1)"
    continue
  fi
  [[ "$(head -n 1 "$f")" == "$expect" ]] || fail "$f: first line '$(head -n 1 "$f")', expected '$expect'"
  grep -q "exit status 2" "$f" || fail "$f lacks the exit status: $(cat "$f")"
  [[ ! -e bad/rep_$i.h5 ]] || fail "bad/rep_$i.h5 written by a failed replicate"
done
[[ "$(cd bad && echo ./* ./.[!.]*)" == "./rep_0.failed ./rep_1.failed ./.[!.]*" ]] ||
  fail "bad/ holds more than the 2 failure markers: $(ls -A bad)"

# The merge ran after every task (afterany): its log counts 4 files and no failure marker.
grep -q "merging 4 replicate files and 0 failure markers" "decouple-merge-$merge.out" ||
  fail "merge log: $(cat "decouple-merge-$merge.out")"
{
  [[ -f ens/ensemble.h5 ]] || fail "ens/ensemble.h5 missing; merge log: $(cat "decouple-merge-$merge.out")"
  [[ ! -f ens/ensemble.h5 ]] || "$PY" - ens/ensemble.h5 <<'EOF' || fail "ens/ensemble.h5 contents"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
r = f["replicates"]
index, status = r["index"][:], r["status"].asstr()[:]
assert list(index) == [0, 1, 2, 3], f"/replicates index {index}"
assert list(status) == ["ok"] * 4, f"/replicates status {status}"
assert len(f["panel"]) > 0, "no panels"
for name, g in f["panel"].items():
    assert "replicate" in g, f"/panel/{name} has no replicate column"
    rep = g["replicate"][:]
    assert np.all(np.diff(rep) >= 0) and set(np.unique(rep)) <= {0, 1, 2, 3}, f"/panel/{name} replicates"
# Every replicate's market rows, as its own file holds them.
m = f["panel/market"]
rep = m["replicate"][:]
for i in range(4):
    with h5py.File(f"ens/rep_{i}.h5") as one:
        for c, col in one["panel/market"].items():
            assert np.array_equal(m[c][:][rep == i], col[:], equal_nan=col.dtype.kind == "f"), f"market/{c} of {i}"
assert "summary" in f and "market" in f["summary"], "no /summary/market"
EOF
}

# ---- 2. submitting again finishes an interrupted ensemble; a retry clears a failure ----------

mtime() { stat -c %Y.%y "$1"; }
before=$(for i in 0 1 3; do mtime "ens/rep_$i.h5"; done)
rm -f ens/rep_2.h5
again=$(submit --array=0-3 "$HPC/ensemble.sbatch" "$CONFIG" ens "${SHORT[@]}")
retry=$(submit --array=0 "$HPC/ensemble.sbatch" "$CONFIG" bad "${SHORT[@]}")
wait_job "$again" "$retry"
note "resubmitted ensemble $again and retry $retry done"
[[ -f ens/rep_2.h5 ]] || fail "resubmission did not rewrite ens/rep_2.h5"
[[ "$(for i in 0 1 3; do mtime "ens/rep_$i.h5"; done)" == "$before" ]] ||
  fail "resubmission touched finished replicates"
for i in 0 1 3; do
  grep -q "rep_$i.h5 exists: replicate $i is done, skipping" "decouple-ens-${again}_$i.out" ||
    fail "task $i of the resubmission did not skip: $(cat "decouple-ens-${again}_$i.out")"
done
[[ -f bad/rep_0.h5 && ! -e bad/rep_0.failed ]] || fail "retry: bad/rep_0.h5 missing or rep_0.failed kept"
[[ -f bad/rep_1.failed ]] || fail "retry of task 0 removed bad/rep_1.failed"

# ---- 3. run.sbatch: 2 ranks by srun --mpi=pmix, 2 by mpirun, and the executable found by path --

r1=$(submit --ntasks=2 "$HPC/run.sbatch" "$CONFIG" run_srun.h5 "${SHORT[@]}" --quiet)
r2=$(DECOUPLE_LAUNCH=mpirun submit --ntasks=2 "$HPC/run.sbatch" "$CONFIG" run_mpirun.h5 "${SHORT[@]}" --quiet)
# A repository elsewhere with its build: found from the submitted script's path, with DECOUPLE
# unset and no decouple on PATH, submitted from another folder (sbatch runs a spooled copy).
mkdir -p "$tmp/repo/hpc" "$tmp/repo/build/app" "$work/elsewhere"
cp "$HPC/run.sbatch" "$tmp/repo/hpc/"
ln -s "$DECOUPLE_BIN" "$tmp/repo/build/app/decouple"
path=$(tr ':' '\n' <<<"$PATH" | while read -r d; do [[ -x $d/decouple ]] || printf '%s:' "$d"; done)
r3=$(cd "$work/elsewhere" && env -u DECOUPLE PATH="${path%:}" sbatch --parsable "${mem[@]}" \
  "$tmp/repo/hpc/run.sbatch" "$CONFIG" "$work/run_found.h5" "${SHORT[@]}" --quiet) ||
  fail "sbatch of the copied run.sbatch"
# Without any executable to find, an ensemble task records that as its failure.
mkdir -p "$tmp/norepo/hpc"
cp "$HPC/ensemble.sbatch" "$tmp/norepo/hpc/"
r4=$(cd "$work/elsewhere" && env -u DECOUPLE PATH="${path%:}" sbatch --parsable "${mem[@]}" --array=0 \
  "$tmp/norepo/hpc/ensemble.sbatch" "$CONFIG" "$work/none") || fail "sbatch of the copied ensemble.sbatch"
wait_job "${r1%%;*}" "${r2%%;*}" "${r3%%;*}" "${r4%%;*}"
note "run.sbatch jobs $r1 (srun), $r2 (mpirun), $r3 (found by path) and ensemble $r4 (nothing to find) done"
[[ "$(head -n 1 none/rep_0.failed 2>&1)" == "decouple not found: set DECOUPLE="* ]] ||
  fail "none/rep_0.failed: $(cat none/rep_0.failed 2>&1)"
for f in run_srun.h5 run_mpirun.h5; do
  if [[ -f $f ]]; then
    [[ "$(h5attr "$f" ranks)" == 2 ]] || fail "$f: ranks $(h5attr "$f" ranks), expected 2"
  else
    fail "$f missing: $(cat decouple-*.out | tail -n 20)"
  fi
done
grep -q "decouple: $tmp/repo/build/app/decouple" "elsewhere/decouple-${r3%%;*}.out" ||
  fail "run.sbatch did not find the repository's build: $(cat "elsewhere/decouple-${r3%%;*}.out")"
if [[ -f run_found.h5 && -f run_srun.h5 ]]; then
  same_panels run_found.h5 run_srun.h5 || fail "1-rank and 2-rank runs differ"
else
  fail "run_found.h5 missing"
fi

# ---- 4. long.sbatch: USR1 as --signal sends it, checkpoint, requeue, resume ------------------

{
  # A run of a few seconds (860 periods with burn-in) with one checkpoint in the middle: the
  # signal is sent when that appears, so it lands mid-run. (Each checkpoint holds every panel
  # row so far: frequent ones would make this slow.)
  LONG=("$SRC/configs/synthetic/small.toml" --set run.periods=800 --set output.firm_every=12
    --set output.trade_every=12)
  "$DECOUPLE" run "${LONG[@]}" --out long_ref.h5 --quiet || fail "reference run for long.sbatch"
  long=$(DECOUPLE_CHECKPOINT_EVERY=400 submit "$HPC/long.sbatch" "${LONG[0]}" long.h5 "${LONG[@]:1}" --quiet)
  note "submitted long job $long"
  while [[ ! -e long.h5.checkpoint.h5 && ! -e long.h5 ]] && ((SECONDS < deadline)); do sleep 0.05; done
  [[ -e long.h5 ]] && fail "long run finished before its first checkpoint could be interrupted"
  # What --signal=USR1@T does at T seconds before the limit: USR1 to every step, not the shell.
  scancel --signal=USR1 "$long" || fail "scancel --signal=USR1 $long"
  note "sent USR1 to job $long"
  wait_job "$long" # through the requeue: REQUEUED, then PENDING (cred_expire), RUNNING again
  note "long job done: ${states//$'\n'/, }"
  log=decouple-long-$long.out
  grep -q "checkpoint written to long.h5.checkpoint.h5: requeueing job $long" "$log" ||
    fail "long.sbatch did not requeue: $(cat "$log")"
  grep -q "restart 1: resuming from long.h5.checkpoint.h5" "$log" || fail "no resume: $(cat "$log")"
  if [[ -f long.h5 ]]; then
    same_panels long.h5 long_ref.h5 || fail "interrupted and resumed run differs from the uninterrupted one"
  else
    fail "long.h5 missing: $(cat "$log")"
  fi
}

note "done, $failures failure(s)"
((failures == 0))
