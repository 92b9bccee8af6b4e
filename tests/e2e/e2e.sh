#!/usr/bin/env bash
# End-to-end tests of the `decouple` command line (DESIGN.md §6, §8).
# Usage: e2e.sh TEST DECOUPLE_BINARY SOURCE_DIR
# Each test runs in a fresh temporary folder (also the working directory) that is removed on exit.
set -euo pipefail

test_name=${1:?test name}
DECOUPLE=$(realpath "${2:?decouple binary}")
SRC=$(realpath "${3:?source dir}")
PY=/usr/bin/python3
HERE="$SRC/tests/e2e"
TWO="$SRC/configs/two_firm_check.toml"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/decouple-e2e.XXXXXX")
bg_pid=""
cleanup() {
  if [[ -n "$bg_pid" ]]; then kill -9 "$bg_pid" 2>/dev/null || true; wait "$bg_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# run_cmd OUT_PREFIX ARGS...: runs decouple, stdout/stderr to OUT_PREFIX.{out,err}, status in $rc.
run_cmd() {
  local prefix=$1; shift
  set +e
  "$DECOUPLE" "$@" >"$prefix.out" 2>"$prefix.err"
  rc=$?
  set -e
}

# A line of stderr for bad input: file:line:col: key: message
problem_re='^[^:]+:[0-9]+:[0-9]+: .+: .+$'

need_python() {
  "$PY" -c 'import h5py, pandas, numpy' 2>/dev/null ||
    die "$PY lacks h5py/pandas/numpy (run scripts/setup: python3-h5py python3-pandas python3-numpy)"
}

# ----------------------------------------------------------------------------------------------

t_cli_validate_ok() {
  run_cmd v validate "$TWO"
  [[ $rc -eq 0 ]] || fail "validate two_firm_check.toml: exit $rc: $(cat v.err)"
  grep -q ': ok' v.out || fail "validate prints no 'ok': $(cat v.out)"
}

t_cli_bad_config() {
  local n=0 f expect
  for f in "$SRC"/configs/invalid/*.toml; do
    n=$((n + 1))
    local name; name=$(basename "$f")
    expect=$(head -n 1 "$f" | sed -n 's/^# expect: //p')
    [[ -n "$expect" ]] || { fail "$name: first line is not '# expect: TEXT'"; continue; }
    rm -f x.h5 x.h5.partial
    run_cmd r run "$f" --out "$tmp/x.h5"
    [[ $rc -eq 2 ]] || fail "$name: run exit $rc, expected 2: $(cat r.err)"
    [[ -s r.err ]] || fail "$name: nothing on stderr"
    grep -qF -- "$expect" r.err || fail "$name: stderr lacks '$expect':"$'\n'"$(cat r.err)"
    if grep -vqE "$problem_re" r.err; then
      fail "$name: stderr line(s) not 'file:line:col: key: message':"$'\n'"$(grep -vE "$problem_re" r.err)"
    fi
    [[ ! -e x.h5 ]] || fail "$name: x.h5 was written"
    [[ ! -e x.h5.partial ]] || fail "$name: x.h5.partial was left behind"
    run_cmd v validate "$f"
    [[ $rc -eq 2 ]] || fail "$name: validate exit $rc, expected 2"
  done
  [[ $n -gt 0 ]] || fail "no files in configs/invalid/"
  echo "checked $n invalid configs"
}

# expect_bad DESCRIPTION ARGS...: exit status 2, something on stderr, nothing new in the work folder
# (apart from the fixtures listed in $fixtures).
expect_bad() {
  local what=$1; shift
  local before after
  before=$(ls -A work)
  pushd work >/dev/null
  run_cmd ../b "$@"
  popd >/dev/null
  if [[ $rc -ne 2 ]]; then
    local why="exit $rc"
    ((rc > 128)) && why="killed by signal $((rc - 128))"
    fail "$what: $why, expected 2 (stderr: $(cat b.err))"
  fi
  [[ -s b.err ]] || fail "$what: nothing on stderr"
  after=$(ls -A work)
  [[ "$before" == "$after" ]] || fail "$what: left files behind: $(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')"
}

t_cli_bad_arguments() {
  mkdir work
  echo "not an hdf5 file" >work/text.txt
  mkdir work/folder.toml
  expect_bad "unknown subcommand" frobnicate "$TWO"
  expect_bad "unknown option" run "$TWO" --bogus --out o.h5
  expect_bad "missing CONFIG" run --out o.h5
  expect_bad "validate without CONFIG" validate
  expect_bad "--seed abc" run "$TWO" --seed abc --out o.h5
  expect_bad "--seed -1" run "$TWO" --seed -1 --out o.h5
  expect_bad "two values after one --set" run "$TWO" --set run.periods=12 run.seed=3 --out o.h5
  expect_bad "--set without =" run "$TWO" --set run.periods --out o.h5
  expect_bad "--set unknown key" run "$TWO" --set run.no_such_key=1 --out o.h5
  expect_bad "--set bad value" run "$TWO" --set run.periods=0 --out o.h5
  expect_bad "nonexistent config" run "$tmp/no_such.toml" --out o.h5
  expect_bad "config is a directory" run folder.toml --out o.h5
  expect_bad "--replicate -1" run "$TWO" --replicate -1 --out o.h5
  expect_bad "--out in a missing folder" run "$TWO" --out no_such_dir/o.h5
  expect_bad "info on a missing file" info missing.h5
  expect_bad "info on a text file" info text.txt
  expect_bad "info without FILE" info
  expect_bad "export of a missing file" export missing.h5 --csv csvdir
  expect_bad "export of a text file" export text.txt --csv csvdir
  expect_bad "export without --csv" export missing.h5
}

t_cli_no_overwrite() {
  run_cmd r1 run "$TWO" --out x.h5 --quiet
  [[ $rc -eq 0 ]] || die "first run: exit $rc: $(cat r1.err)"
  [[ -f x.h5 ]] || die "first run wrote no x.h5"
  local h1; h1=$(sha x.h5)

  run_cmd r2 run "$TWO" --out x.h5 --set run.periods=12 --quiet
  [[ $rc -eq 2 ]] || fail "second run without --force: exit $rc, expected 2"
  grep -qF "x.h5" r2.err || fail "message does not name the file: $(cat r2.err)"
  grep -qE "$problem_re" r2.err || fail "message is not 'file:line:col: key: message': $(cat r2.err)"
  [[ "$(sha x.h5)" == "$h1" ]] || fail "x.h5 changed without --force"
  [[ ! -e x.h5.partial ]] || fail "x.h5.partial left behind"

  # --set before CONFIG takes one value only: CONFIG stays the positional argument.
  run_cmd r3 run --set run.periods=12 "$TWO" --out x.h5 --force --quiet
  [[ $rc -eq 0 ]] || fail "run with --force: exit $rc: $(cat r3.err)"
  [[ "$(sha x.h5)" != "$h1" ]] || fail "x.h5 not replaced with --force"
  [[ ! -e x.h5.partial ]] || fail "x.h5.partial left behind after --force"
  run_cmd i info x.h5
  [[ $rc -eq 0 ]] || fail "info on the replaced file: exit $rc"
  grep -qE '^ *periods *= *12$' i.out || fail "replaced file does not hold the 12-period run:"$'\n'"$(cat i.out)"
}

t_cli_kill_safety() {
  run_cmd r1 run "$TWO" --out y.h5 --set run.periods=24 --quiet
  [[ $rc -eq 0 ]] || die "short run: exit $rc: $(cat r1.err)"
  local h1; h1=$(sha y.h5)

  # At about 3e5 periods/s here, 2e7 periods take about a minute: still running when killed.
  "$DECOUPLE" run "$TWO" --out y.h5 --set run.periods=20000000 --force --quiet >long.out 2>long.err &
  bg_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do   # up to 10 s for the run to start writing y.h5.partial
    [[ -e y.h5.partial ]] && break
    kill -0 "$bg_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -e y.h5.partial ]] || fail "long run never created y.h5.partial"
  sleep 1
  kill -0 "$bg_pid" 2>/dev/null || die "long run ended before it was killed (stderr: $(cat long.err))"
  kill -9 "$bg_pid"
  set +e; wait "$bg_pid"; local status=$?; set -e
  bg_pid=""
  [[ $status -eq 137 ]] || fail "killed run: wait status $status, expected 137"

  [[ "$(sha y.h5)" == "$h1" ]] || fail "y.h5 changed by a killed run"
  run_cmd i info y.h5
  [[ $rc -eq 0 ]] || fail "info on y.h5 after the kill: exit $rc: $(cat i.err)"
  grep -qE '^ *periods *= *24$' i.out || fail "y.h5 no longer holds the short run"

  # A stale y.h5.partial from the killed run must not block the next run.
  run_cmd r2 run "$TWO" --out y.h5 --set run.periods=12 --force --quiet
  [[ $rc -eq 0 ]] || fail "run after the kill: exit $rc: $(cat r2.err)"
  [[ ! -e y.h5.partial ]] || fail "y.h5.partial left after a successful run"
}

t_panel_layout_python() {
  need_python
  run_cmd r run "$TWO" --out p.h5 --quiet
  [[ $rc -eq 0 ]] || die "run: exit $rc: $(cat r.err)"
  "$PY" "$HERE/check_panel.py" p.h5 --config-out config.toml || fail "check_panel.py"
  [[ -s config.toml ]] || die "no /config text extracted"
  run_cmd v validate config.toml
  [[ $rc -eq 0 ]] || fail "/config does not validate: exit $rc: $(cat v.err)"
}

t_cli_export_csv() {
  need_python
  run_cmd r run "$TWO" --out p.h5 --quiet
  [[ $rc -eq 0 ]] || die "run: exit $rc: $(cat r.err)"
  run_cmd e export p.h5 --csv csv
  [[ $rc -eq 0 ]] || die "export: exit $rc: $(cat e.err)"
  local p
  for p in market trade firm government policy; do
    [[ -f csv/$p.csv ]] || fail "export wrote no csv/$p.csv"
  done
  local partials=(csv/*.partial)
  [[ ! -e "${partials[0]}" ]] || fail "partial CSV files left behind: ${partials[*]}"
  "$PY" "$HERE/check_csv.py" p.h5 csv || fail "check_csv.py"
}

# Same config and seed ⇒ bit-identical /panel and /meta; another seed changes the stochastic
# parts (licence approvals, entrants' costs) of the default scenario.
t_determinism() {
  need_python
  local cfg="$SRC/configs/default.toml"
  run_cmd a run "$cfg" --out a.h5 --quiet
  [[ $rc -eq 0 ]] || die "run a: exit $rc: $(cat a.err)"
  run_cmd b run "$cfg" --out b.h5 --quiet
  [[ $rc -eq 0 ]] || die "run b: exit $rc: $(cat b.err)"
  run_cmd c run "$cfg" --out c.h5 --quiet --seed 99
  [[ $rc -eq 0 ]] || die "run c: exit $rc: $(cat c.err)"
  "$PY" "$HERE/compare_panels.py" a.h5 b.h5 --expect same || fail "same seed, different panels"
  "$PY" "$HERE/compare_panels.py" a.h5 c.h5 --expect different || fail "another seed, same panels"
  # The deflate level changes the file's bytes, never its values.
  run_cmd d run "$cfg" --out d.h5 --quiet --set output.deflate=0
  [[ $rc -eq 0 ]] || die "run d: exit $rc: $(cat d.err)"
  "$PY" "$HERE/compare_panels.py" a.h5 d.h5 --expect same || fail "deflate 0 changed the panels"
  "$PY" -c "import h5py, sys; f = h5py.File('d.h5'); g = h5py.File('a.h5'); sys.exit(0 if f['panel/market/price'].compression is None and g['panel/market/price'].compression == 'gzip' else 1)" ||
    fail "deflate 0 should write unfiltered panels, the default gzip"
}

# scripts/report on two short runs of the default scenario (two seeds): every figure is a real
# PNG, summary.md names both runs and holds the comparison table; a missing file exits 2.
t_report_figures() {
  need_python
  "$PY" -c 'import matplotlib' 2>/dev/null || die "$PY lacks matplotlib (python3-matplotlib)"
  local cfg="$SRC/configs/default.toml" report="$SRC/scripts/report"
  [[ -x "$report" ]] || die "not executable: $report"
  run_cmd a run "$cfg" --out a.h5 --quiet --seed 5 --set run.periods=24
  [[ $rc -eq 0 ]] || die "run a: exit $rc: $(cat a.err)"
  run_cmd b run "$cfg" --out b.h5 --quiet --seed 6 --set run.periods=24
  [[ $rc -eq 0 ]] || die "run b: exit $rc: $(cat b.err)"
  set +e
  "$report" a.h5 b.h5 --out rep >rep.out 2>rep.err
  rc=$?
  set -e
  [[ $rc -eq 0 ]] || die "report: exit $rc: $(cat rep.err)"
  [[ -f rep/summary.md ]] || die "report wrote no rep/summary.md"
  # same scenario name twice: the runs are told apart by seed
  local s f names=()
  for s in default_s5 default_s6; do
    for f in shares hhi prices fiscal output_lost events; do names+=("${f}_$s.png"); done
  done
  names+=(comparison.png)
  for f in "${names[@]}"; do
    if [[ ! -f rep/$f ]]; then fail "report wrote no rep/$f"; continue; fi
    [[ "$(head -c 8 "rep/$f" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
      fail "rep/$f is not a PNG"
    (($(stat -c %s "rep/$f") > 5000)) || fail "rep/$f is only $(stat -c %s "rep/$f") bytes"
    grep -qF "($f)" rep/summary.md || fail "summary.md does not embed $f"
  done
  for s in default_s5 default_s6; do
    grep -qF "$s" rep/summary.md || fail "summary.md does not name $s"
  done
  grep -qE '^\| indicator \| default_s5 \| default_s6 \|$' rep/summary.md ||
    fail "summary.md has no comparison table header"
  grep -qE '^\| months until west dependency on magnets' rep/summary.md ||
    fail "comparison table lacks the magnets row"
  grep -qE '^\| policy events \| [0-9]+ \| [0-9]+ \|$' rep/summary.md ||
    fail "comparison table lacks the policy events row"
  mkdir work
  set +e
  (cd work && "$report" missing.h5 --out x) >m.out 2>m.err
  rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "report on a missing file: exit $rc, expected 2"
  [[ $(wc -l <m.err) -eq 1 ]] || fail "report on a missing file: not one line: $(cat m.err)"
  ! grep -q Traceback m.err || fail "report on a missing file: traceback"
  [[ ! -e work/x ]] || fail "report on a missing file created its --out folder"
}

# mpi_cmd OUT_PREFIX RANKS ARGS...: decouple under the real mpiexec ($MPIEXEC, set by CMake).
mpi_cmd() {
  local prefix=$1 n=$2; shift 2
  [[ -n "${MPIEXEC:-}" ]] || die "MPIEXEC is not set (ctest sets it)"
  set +e
  "$MPIEXEC" -n "$n" "$DECOUPLE" "$@" >"$prefix.out" 2>"$prefix.err"
  rc=$?
  set -e
}

# DESIGN §5: the same config and seed give bit-identical /panel and /meta on 1, 2 and 3 ranks —
# a stochastic calibrated scenario (licence approvals are random draws; China's answers come
# from its rule) and a synthetic world. The file records the rank count.
t_ranks_identical() {
  need_python
  local cfg n
  for cfg in "$SRC/configs/escalation_2025_rules.toml" "$SRC/configs/synthetic/small.toml"; do
    local b; b=$(basename "$cfg" .toml)
    for n in 1 2 3; do
      mpi_cmd "$b$n" "$n" run "$cfg" --out "$b$n.h5" --quiet
      [[ $rc -eq 0 ]] || die "$b on $n ranks: exit $rc: $(cat "$b$n.err")"
      "$PY" -c "import h5py, sys; sys.exit(0 if int(h5py.File('$b$n.h5').attrs['ranks']) == $n else 1)" ||
        fail "$b$n.h5: root attribute ranks is not $n"
    done
    for n in 2 3; do
      "$PY" "$HERE/compare_panels.py" "${b}1.h5" "$b$n.h5" --expect same || fail "$b: $n ranks differ from 1"
    done
  done
  # A different seed must change the panels (the comparison is not vacuous).
  mpi_cmd s 2 run "$SRC/configs/escalation_2025_rules.toml" --out s.h5 --quiet --seed 7
  [[ $rc -eq 0 ]] || die "seed 7: exit $rc: $(cat s.err)"
  "$PY" "$HERE/compare_panels.py" escalation_2025_rules1.h5 s.h5 --expect different || fail "another seed, same panels"
}

# Under mpiexec an error every rank sees is printed once (by rank 0), with exit status 2, and
# no output is left behind.
t_ranks_errors() {
  local bad="$SRC/configs/invalid/$(ls "$SRC/configs/invalid" | head -n 1)"
  mpi_cmd b 2 run "$bad" --out x.h5
  [[ $rc -eq 2 ]] || fail "bad config on 2 ranks: exit $rc, expected 2: $(cat b.err)"
  local lines; lines=$(grep -cE "$problem_re" b.err || true)
  [[ $lines -ge 1 ]] || fail "bad config on 2 ranks: no problem line: $(cat b.err)"
  mpi_cmd one 1 run "$bad" --out x.h5
  [[ $(grep -cE "$problem_re" one.err) -eq $lines ]] ||
    fail "bad config: 2 ranks print $lines problem lines, 1 rank $(grep -cE "$problem_re" one.err)"
  [[ ! -e x.h5 && ! -e x.h5.partial ]] || fail "bad config on 2 ranks left output behind"
  echo old >taken.h5
  mpi_cmd t 2 run "$TWO" --out taken.h5
  [[ $rc -eq 2 ]] || fail "existing output on 2 ranks: exit $rc, expected 2"
  [[ $(grep -c -- "--force" t.err) -eq 1 ]] || fail "existing output on 2 ranks: not one message: $(cat t.err)"
  [[ $(cat taken.h5) == old ]] || fail "existing output was touched"
  [[ ! -e taken.h5.partial ]] || fail "existing output: partial file left behind"
}

# ---- checkpoints (DESIGN §8) -----------------------------------------------------------------

# attr FILE NAME: a root attribute of an HDF5 file.
attr() { "$PY" -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r').attrs[sys.argv[2]])" "$1" "$2"; }

# expect_stopped PREFIX OUT: exit 3, one line on stderr naming the checkpoint and --resume, no
# output (nor its partial) left, a checkpoint in place.
expect_stopped() {
  local prefix=$1 out=$2
  [[ $rc -eq 3 ]] || fail "$prefix: exit $rc, expected 3: $(cat "$prefix.err")"
  [[ ! -e "$out" && ! -e "$out.partial" ]] || fail "$prefix: output or its partial left behind"
  [[ -s "$out.checkpoint.h5" && ! -e "$out.checkpoint.h5.partial" ]] || fail "$prefix: no checkpoint $out.checkpoint.h5"
  local lines; lines=$(grep -c . "$prefix.err" || true)
  grep -qE "^decouple: stopped .*checkpoint $out.checkpoint.h5 .*--resume $out.checkpoint.h5\$" "$prefix.err" ||
    fail "$prefix: no line saying where the checkpoint is and how to resume: $(cat "$prefix.err")"
  [[ $lines -eq 1 ]] || fail "$prefix: $lines lines on stderr, expected 1"
}

# Stopping after N periods (--stop-after) and resuming gives the uninterrupted run's panels bit for
# bit: calibrated scenarios with random licence draws and rules, with entry, and a synthetic world;
# stops in the burn-in and mid-run, chained, and the printed command continues the run.
t_checkpoint_resume() {
  need_python
  local cfg b stop
  for cfg in escalation_2025_rules noncooperative synthetic/small; do
    b=$(basename "$cfg")
    stop=300; [[ $b == small ]] && stop=80   # inside the recorded periods (burn-in 240 / 60)
    run_cmd "$b-full" run "$SRC/configs/$cfg.toml" --out "$b-full.h5" --quiet
    [[ $rc -eq 0 ]] || die "$b: exit $rc: $(cat "$b-full.err")"
    run_cmd "$b-stop" run "$SRC/configs/$cfg.toml" --out "$b.h5" --quiet --stop-after $stop
    expect_stopped "$b-stop" "$b.h5"
    local next; next=$((stop - $(attr "$b-full.h5" burn_in)))   # periods run from -burn_in
    [[ $(attr "$b.h5.checkpoint.h5" next_period) -eq $next ]] ||
      fail "$b: checkpoint continues at $(attr "$b.h5.checkpoint.h5" next_period), expected $next"
    run_cmd "$b-res" run "$SRC/configs/$cfg.toml" --out "$b.h5" --quiet --resume "$b.h5.checkpoint.h5"
    [[ $rc -eq 0 ]] || fail "$b: resume: exit $rc: $(cat "$b-res.err")"
    "$PY" "$HERE/compare_panels.py" "$b-full.h5" "$b.h5" --expect same || fail "$b: resumed run differs"
    [[ $(attr "$b.h5" resumed_at) -eq $next ]] || fail "$b: resumed_at is $(attr "$b.h5" resumed_at), expected $next"
    [[ ! -e "$b.h5.checkpoint.h5" ]] || fail "$b: the checkpoint outlived the finished run"
  done
  # Chained: stop in the burn-in, resume and stop again (with --set and --seed), then run the
  # command the second stop printed.
  local c="$SRC/configs/escalation_2025_rules.toml" opts=(--set run.periods=60 --seed 11)
  run_cmd ref run "$c" --out ref.h5 --quiet "${opts[@]}"
  run_cmd s1 run "$c" --out ch.h5 --quiet "${opts[@]}" --stop-after 100
  expect_stopped s1 ch.h5
  run_cmd s2 run "$c" --out ch.h5 --quiet "${opts[@]}" --stop-after 170 --resume ch.h5.checkpoint.h5
  expect_stopped s2 ch.h5
  [[ $(attr ch.h5.checkpoint.h5 next_period) -eq 30 ]] || fail "chained: second checkpoint continues at $(attr ch.h5.checkpoint.h5 next_period)"
  local cmd; cmd=$(sed -n 's/.*continue with: decouple //p' s2.err)
  eval "\"\$DECOUPLE\" $cmd --quiet" >s3.out 2>s3.err || fail "the printed resume command failed: $cmd: $(cat s3.err)"
  "$PY" "$HERE/compare_panels.py" ref.h5 ch.h5 --expect same || fail "chained resume differs"
  # --checkpoint-every alone changes nothing in the result, and the checkpoint goes at the end.
  run_cmd ev run "$c" --out ev.h5 --quiet "${opts[@]}" --checkpoint-every 45
  [[ $rc -eq 0 ]] || fail "--checkpoint-every: exit $rc: $(cat ev.err)"
  "$PY" "$HERE/compare_panels.py" ref.h5 ev.h5 --expect same || fail "--checkpoint-every changed the panels"
  [[ ! -e ev.h5.checkpoint.h5 && ! -e ev.h5.checkpoint.h5.partial ]] || fail "--checkpoint-every: checkpoint left after success"
}

# A bad --resume is bad input: exit 2, one problem line, nothing written, the file untouched.
t_checkpoint_bad_resume() {
  need_python
  run_cmd ck run "$TWO" --out ck.h5 --quiet --stop-after 5
  expect_stopped ck ck.h5
  local h; h=$(sha ck.h5.checkpoint.h5)
  run_cmd p run "$TWO" --out panel.h5 --quiet
  echo "not hdf5" >text.h5
  local case
  for case in "missing.h5:$TWO:no such file" "text.h5:$TWO:not an HDF5 file" "panel.h5:$TWO:not a decouple checkpoint" \
              "ck.h5.checkpoint.h5:$SRC/configs/escalation_2025_rules.toml:another configuration" \
              "ck.h5.checkpoint.h5:$TWO --seed 8:another configuration" \
              "ck.h5.checkpoint.h5:$TWO --set run.periods=400:another configuration"; do
    IFS=: read -r file args want <<<"$case"
    # shellcheck disable=SC2086
    run_cmd bad run $args --out x.h5 --resume "$file"
    [[ $rc -eq 2 ]] || fail "--resume $file ($args): exit $rc, expected 2: $(cat bad.err)"
    [[ $(grep -cE "$problem_re" bad.err) -eq 1 && $(grep -c . bad.err) -eq 1 ]] ||
      fail "--resume $file ($args): not one problem line: $(cat bad.err)"
    grep -q -- "--resume: .*$want" bad.err || fail "--resume $file ($args): message lacks '$want': $(cat bad.err)"
    [[ ! -e x.h5 && ! -e x.h5.partial && ! -e x.h5.checkpoint.h5 ]] || fail "--resume $file ($args): wrote output"
  done
  run_cmd bad run "$TWO" --seed 8 --out x.h5 --resume ck.h5.checkpoint.h5
  grep -q "line [0-9]*: 'seed = 8' here, 'seed = 7' in the checkpoint" bad.err ||
    fail "another seed: the message does not show the difference: $(cat bad.err)"
  [[ $(sha ck.h5.checkpoint.h5) == "$h" ]] || fail "a refused resume touched the checkpoint"
  for opt in "--stop-after 0" "--checkpoint-every -1"; do
    # shellcheck disable=SC2086
    run_cmd o run "$TWO" --out x.h5 $opt
    [[ $rc -eq 2 ]] || fail "$opt: exit $rc, expected 2"
    [[ ! -e x.h5 && ! -e x.h5.partial ]] || fail "$opt: wrote output"
  done
}

# wait_for FILE PID: until FILE exists (up to 20 s) while PID runs.
wait_for() {
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -e "$1" ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# SIGTERM to a running single-process run: it finishes the period, writes the checkpoint and
# exits 3; resuming gives the uninterrupted run's panels.
t_checkpoint_signal() {
  need_python
  local c="$SRC/configs/synthetic/small.toml" opts=(--set run.periods=150 --quiet)
  run_cmd full run "$c" --out full.h5 "${opts[@]}"
  [[ $rc -eq 0 ]] || die "full run: exit $rc: $(cat full.err)"
  "$DECOUPLE" run "$c" --out sig.h5 "${opts[@]}" >sig.out 2>sig.err &
  bg_pid=$!
  wait_for sig.h5.partial "$bg_pid" || die "the run never created sig.h5.partial: $(cat sig.err)"
  sleep 0.3
  kill -TERM "$bg_pid"
  set +e; wait "$bg_pid"; rc=$?; set -e
  bg_pid=""
  expect_stopped sig sig.h5
  grep -q "stopped on SIGTERM" sig.err || fail "the message does not name SIGTERM: $(cat sig.err)"
  run_cmd res run "$c" --out sig.h5 "${opts[@]}" --resume sig.h5.checkpoint.h5
  [[ $rc -eq 0 ]] || fail "resume: exit $rc: $(cat res.err)"
  "$PY" "$HERE/compare_panels.py" full.h5 sig.h5 --expect same || fail "resumed run differs"
}

# SIGKILL while a checkpoint is being written (OUT.checkpoint.h5.partial present) leaves the
# previous checkpoint whole and an existing OUT untouched; that checkpoint resumes to the
# uninterrupted run's panels, and the stale partial blocks nothing.
t_checkpoint_kill() {
  need_python
  local opts=(--set run.periods=3000 --quiet)
  run_cmd ref run "$TWO" --out ref.h5 "${opts[@]}"
  [[ $rc -eq 0 ]] || die "reference run: exit $rc: $(cat ref.err)"
  run_cmd old run "$TWO" --out k.h5 --set run.periods=12 --quiet
  local h caught="" try
  h=$(sha k.h5)
  for try in 1 2 3 4 5; do
    rm -f k.h5.checkpoint.h5 k.h5.checkpoint.h5.partial
    # A checkpoint every period: most of the time is spent writing one.
    "$DECOUPLE" run "$TWO" --out k.h5 --force "${opts[@]}" --checkpoint-every 1 >long.out 2>long.err &
    bg_pid=$!
    wait_for k.h5.checkpoint.h5 "$bg_pid" || die "no first checkpoint: $(cat long.err)"
    local i
    for ((i = 0; i < 100000; i++)); do [[ -e k.h5.checkpoint.h5.partial ]] && break; done
    kill -9 "$bg_pid"
    set +e; wait "$bg_pid"; set -e
    bg_pid=""
    if [[ -e k.h5.checkpoint.h5.partial ]]; then caught=1; break; fi
  done
  [[ -n "$caught" ]] || die "never killed the run while it wrote a checkpoint (5 tries)"
  [[ "$(sha k.h5)" == "$h" ]] || fail "k.h5 changed by the killed run"
  [[ $(attr k.h5.checkpoint.h5 format) == decouple-checkpoint ]] || fail "the previous checkpoint is damaged"
  local next; next=$(attr k.h5.checkpoint.h5 next_period)
  [[ $next -gt 0 ]] || fail "checkpoint at period $next"
  run_cmd res run "$TWO" --out k.h5 --force "${opts[@]}" --checkpoint-every 1000 --resume k.h5.checkpoint.h5
  [[ $rc -eq 0 ]] || fail "resume after the kill: exit $rc: $(cat res.err)"
  "$PY" "$HERE/compare_panels.py" ref.h5 k.h5 --expect same || fail "resumed run differs"
  [[ ! -e k.h5.checkpoint.h5 && ! -e k.h5.checkpoint.h5.partial && ! -e k.h5.partial ]] ||
    fail "checkpoint files left after the resumed run finished: $(ls)"
}

# Checkpoints across rank counts: a 2-rank run stopped by --stop-after resumes on 2 ranks (and
# the synthetic world's on 1 and 3) to the 1-rank uninterrupted run's panels.
t_ranks_checkpoint() {
  need_python
  local cfg b n stop
  for cfg in escalation_2025_rules synthetic/small; do
    b=$(basename "$cfg")
    stop=300; [[ $b == small ]] && stop=80
    run_cmd "$b-full" run "$SRC/configs/$cfg.toml" --out "$b-full.h5" --quiet
    [[ $rc -eq 0 ]] || die "$b: exit $rc: $(cat "$b-full.err")"
    mpi_cmd "$b-stop" 2 run "$SRC/configs/$cfg.toml" --out "$b.h5" --quiet --stop-after $stop
    [[ $rc -eq 3 ]] || fail "$b on 2 ranks: exit $rc, expected 3: $(cat "$b-stop.err")"
    [[ $(grep -c "^decouple: stopped" "$b-stop.err") -eq 1 ]] || fail "$b on 2 ranks: not one stop line: $(cat "$b-stop.err")"
    [[ ! -e "$b.h5" && ! -e "$b.h5.partial" ]] || fail "$b on 2 ranks: output left behind"
    [[ $(attr "$b.h5.checkpoint.h5" ranks) -eq 2 ]] || fail "$b: checkpoint not written by 2 ranks"
    local counts=(2); [[ $b == small ]] && counts=(1 3 2)   # 2 last: resuming onto its own output removes the checkpoint
    for n in "${counts[@]}"; do
      mpi_cmd "$b-res$n" "$n" run "$SRC/configs/$cfg.toml" --out "$b$n.h5" --quiet --resume "$b.h5.checkpoint.h5"
      [[ $rc -eq 0 ]] || fail "$b: resume on $n ranks: exit $rc: $(cat "$b-res$n.err")"
      "$PY" "$HERE/compare_panels.py" "$b-full.h5" "$b$n.h5" --expect same || fail "$b: resumed on $n ranks differs"
    done
  done
}

# SIGUSR1 to mpiexec (which forwards it to the ranks): the ranks agree, write one checkpoint and
# exit 3; it resumes on 2 ranks to the uninterrupted run's panels.
t_ranks_checkpoint_signal() {
  need_python
  [[ -n "${MPIEXEC:-}" ]] || die "MPIEXEC is not set (ctest sets it)"
  local c="$SRC/configs/synthetic/small.toml" opts=(--set run.periods=150 --quiet)
  run_cmd full run "$c" --out full.h5 "${opts[@]}"
  [[ $rc -eq 0 ]] || die "full run: exit $rc: $(cat full.err)"
  "$MPIEXEC" -n 2 "$DECOUPLE" run "$c" --out sig.h5 "${opts[@]}" >sig.out 2>sig.err &
  bg_pid=$!
  wait_for sig.h5.partial "$bg_pid" || die "the run never created sig.h5.partial: $(cat sig.err)"
  sleep 0.5
  kill -USR1 "$bg_pid"
  set +e; wait "$bg_pid"; rc=$?; set -e
  bg_pid=""
  [[ $rc -eq 3 ]] || fail "exit $rc, expected 3: $(cat sig.err)"
  [[ $(grep -c "^decouple: stopped on SIGUSR1 .*--resume sig.h5.checkpoint.h5\$" sig.err) -eq 1 ]] ||
    fail "not one stop line: $(cat sig.err)"
  [[ ! -e sig.h5 && ! -e sig.h5.partial && -s sig.h5.checkpoint.h5 ]] || fail "files after the stop: $(ls)"
  mpi_cmd res 2 run "$c" --out sig.h5 "${opts[@]}" --resume sig.h5.checkpoint.h5
  [[ $rc -eq 0 ]] || fail "resume: exit $rc: $(cat res.err)"
  "$PY" "$HERE/compare_panels.py" full.h5 sig.h5 --expect same || fail "resumed run differs"
}

# ----------------------------------------------------------------------------------------------

[[ -x "$DECOUPLE" ]] || die "not executable: $DECOUPLE"
declare -F "t_$test_name" >/dev/null || die "unknown test $test_name"
"t_$test_name"
if ((failures > 0)); then
  echo "$test_name: $failures failure(s)" >&2
  exit 1
fi
echo "$test_name: ok"
