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

# ---- ensembles and merge (README "Ensembles") ------------------------------------------------

ENS="$SRC/configs/ensemble_reciprocal.toml"
# Short runs of the calibrated reciprocal scenario: about 0.1 s each.
SHORT=(--set run.periods=24 --set run.burn_in=6)

# h5attr FILE NAME: a root attribute.
h5attr() { "$PY" -c "import h5py, sys; v = h5py.File(sys.argv[1]).attrs[sys.argv[2]]; print(v.decode() if isinstance(v, bytes) else v)" "$1" "$2"; }

# rep_<I>.h5 of `decouple ensemble` is bit for bit `decouple run CONFIG --replicate I` (with the
# same --set), and `run <its own /config> --replicate I`; a second ensemble keeps existing files.
t_ensemble_reproducible() {
  need_python
  # A Latin hypercube over N = 5: N is part of the design and recorded in every /config.
  printf '%s\n' "base = \"$ENS\"" '[ensemble]' 'design = "latin_hypercube"' '[[ensemble.parameter]]' \
    'key = "behaviour.uncertainty_premium"' 'min = 0.0' 'max = 0.3' >lhs.toml
  local ENS=lhs.toml lhs=()
  run_cmd e ensemble "$ENS" --replications 5 --out ens "${SHORT[@]}" "${lhs[@]}"
  [[ $rc -eq 0 ]] || die "ensemble: exit $rc: $(cat e.err)"
  grep -qxE 'ensemble: 5 replicates, 5 ok, 0 failed, [0-9.]+ s' e.out || fail "summary line: $(cat e.out)"
  [[ ! -s e.err ]] || fail "ensemble printed on stderr: $(cat e.err)"
  [[ $(wc -l <e.out) -eq 1 ]] || fail "ensemble printed more than its summary: $(cat e.out)"
  local i id; id=$(h5attr ens/rep_0.h5 config_id)
  [[ "$id" =~ ^[0-9a-f]{16}$ ]] || fail "config_id '$id' is not 16 hex digits"
  for i in 0 1 2 3 4; do
    [[ -f ens/rep_$i.h5 ]] || die "no ens/rep_$i.h5"
    [[ $(h5attr ens/rep_$i.h5 replicate) == "$i" ]] || fail "rep_$i.h5: replicate attribute"
    [[ $(h5attr ens/rep_$i.h5 config_id) == "$id" ]] || fail "rep_$i.h5: config_id differs from rep_0's"
  done
  for i in 1 3; do
    run_cmd r$i run "$ENS" --replicate $i --out r$i.h5 --quiet "${SHORT[@]}" "${lhs[@]}" --set ensemble.replications=5
    [[ $rc -eq 0 ]] || die "run --replicate $i: exit $rc: $(cat r$i.err)"
    "$PY" "$HERE/compare_panels.py" ens/rep_$i.h5 r$i.h5 --expect same || fail "rep_$i.h5 differs from run --replicate $i"
    [[ $(h5attr r$i.h5 config_id) == "$id" ]] || fail "run --replicate $i: another config_id"
    [[ $(h5attr r$i.h5 seed) == $(h5attr ens/rep_$i.h5 seed) ]] || fail "run --replicate $i: another seed"
    # The replicate's own /config reproduces it, with or without --replicate.
    "$PY" -c "import h5py; open('c$i.toml', 'w').write(h5py.File('ens/rep_$i.h5')['config'][()].decode())"
    run_cmd c$i run c$i.toml --replicate $i --out c$i.h5 --quiet
    [[ $rc -eq 0 ]] || die "run rep_$i's /config --replicate $i: exit $rc: $(cat c$i.err)"
    "$PY" "$HERE/compare_panels.py" ens/rep_$i.h5 c$i.h5 --expect same || fail "rep_$i's /config --replicate $i differs"
    run_cmd d$i run c$i.toml --out d$i.h5 --quiet
    "$PY" "$HERE/compare_panels.py" ens/rep_$i.h5 d$i.h5 --expect same || fail "rep_$i's /config alone differs"
  done
  "$PY" "$HERE/compare_panels.py" ens/rep_1.h5 ens/rep_3.h5 --expect different || fail "replicates 1 and 3 are the same"
  # Another N is another hypercube: replicate 3 of N = 4 runs with another ρ.
  run_cmd n4 run "$ENS" --replicate 3 --out n4.h5 --quiet "${SHORT[@]}" "${lhs[@]}" --set ensemble.replications=4
  [[ $rc -eq 0 ]] || die "N = 4: exit $rc: $(cat n4.err)"
  rho() { "$PY" -c "import h5py, re; print(re.findall(r'uncertainty_premium = (\S+)', h5py.File('$1')['config'][()].decode()))"; }
  [[ "$(rho ens/rep_3.h5)" != "$(rho n4.h5)" ]] || fail "N = 4 and N = 5 gave replicate 3 the same ρ: $(rho n4.h5)"
  [[ "$(rho ens/rep_3.h5)" != "$(rho ens/rep_1.h5)" ]] || fail "replicates 1 and 3 have the same ρ"

  # Re-running keeps what exists (a killed ensemble finishes); --force runs everything again.
  rm ens/rep_2.h5
  local h4; h4=$(sha ens/rep_4.h5)
  run_cmd e2 ensemble "$ENS" --replications 5 --out ens "${SHORT[@]}" "${lhs[@]}"
  [[ $rc -eq 0 ]] || fail "second ensemble: exit $rc: $(cat e2.err)"
  grep -qE '^ensemble: 5 replicates, 5 ok \(4 kept from an earlier run\), 0 failed' e2.out || fail "second ensemble: $(cat e2.out)"
  [[ $(sha ens/rep_4.h5) == "$h4" ]] || fail "rep_4.h5 rewritten without --force"
  "$PY" "$HERE/compare_panels.py" ens/rep_1.h5 r1.h5 --expect same || fail "kept rep_1.h5 changed"
  [[ -f ens/rep_2.h5 ]] || fail "the missing rep_2.h5 was not run again"
  run_cmd e3 ensemble "$ENS" --replications 5 --out ens --force "${SHORT[@]}" "${lhs[@]}"
  grep -qxE 'ensemble: 5 replicates, 5 ok, 0 failed, [0-9.]+ s' e3.out || fail "--force: $(cat e3.out)"
  [[ $(sha ens/rep_4.h5) != "$h4" ]] || fail "--force did not rewrite rep_4.h5"  # created_utc, wall_seconds
}

# A sweep where some values are invalid: those replicates fail with the validation message in
# rep_<I>.failed, the others complete; bad input to the command itself exits 2 with nothing written.
t_ensemble_failures() {
  need_python
  printf '%s\n' "base = \"$TWO\"" '[run]' 'periods = 12' '[ensemble]' 'replications = 6' 'design = "grid"' \
    '[[ensemble.parameter]]' 'key = "behaviour.adjustment"' 'values = [0.3, 1.5, 0.5]' >sweep.toml
  run_cmd e ensemble sweep.toml --out out
  [[ $rc -eq 0 ]] || fail "ensemble with some failures: exit $rc, expected 0: $(cat e.err)"
  grep -qxE 'ensemble: 6 replicates, 4 ok, 2 failed \(rep_1, rep_4\), [0-9.]+ s' e.out || fail "summary: $(cat e.out)"
  local i msg='behaviour.adjustment: must be in (0, 1] (got 1.5)'
  for i in 1 4; do
    [[ ! -e out/rep_$i.h5 && ! -e out/rep_$i.h5.partial ]] || fail "failed replicate $i left a rep file"
    [[ -f out/rep_$i.failed ]] || { fail "no out/rep_$i.failed"; continue; }
    head -n 1 out/rep_$i.failed | grep -qE "$problem_re" || fail "rep_$i.failed: first line not 'file:line:col: key: message'"
    head -n 1 out/rep_$i.failed | grep -qF -- "$msg" || fail "rep_$i.failed lacks '$msg': $(cat out/rep_$i.failed)"
    grep -qF -- "rep_$i: " e.err || fail "stderr does not name rep_$i: $(cat e.err)"
  done
  for i in 0 2 3 5; do [[ -f out/rep_$i.h5 && ! -e out/rep_$i.failed ]] || fail "rep_$i: not ok"; done
  local tmps=(out/*.tmp*)
  [[ ! -e "${tmps[0]}" ]] || fail "temporary files left: ${tmps[*]}"
  # `run --replicate 1` fails the same way, exit 2.
  run_cmd r1 run sweep.toml --replicate 1 --out r1.h5
  [[ $rc -eq 2 ]] || fail "run --replicate 1: exit $rc, expected 2"
  [[ "$(head -n 1 r1.err)" == "$(head -n 1 out/rep_1.failed)" ]] || fail "run --replicate 1 says $(cat r1.err)"
  # A later ensemble over valid values replaces the failure records.
  run_cmd e2 ensemble sweep.toml --out out --set 'ensemble.parameter[0].values=[0.3, 0.4, 0.5]'
  [[ $rc -eq 0 && ! -e out/rep_1.failed && -f out/rep_1.h5 ]] || fail "re-run did not replace rep_1.failed: $(cat e2.out e2.err)"

  # Nothing succeeds: exit 1, every failure recorded.
  run_cmd a ensemble sweep.toml --out allbad --set 'ensemble.parameter[0].values=[2.0]' --replications 2
  [[ $rc -eq 1 ]] || fail "all replicates failed: exit $rc, expected 1"
  [[ -f allbad/rep_0.failed && -f allbad/rep_1.failed ]] || fail "all failed: records missing"
  grep -qE '^ensemble: 2 replicates, 0 ok, 2 failed' a.out || fail "all failed: $(cat a.out)"

  # Bad input to the command: exit 2, no folder, no files.
  mkdir work
  cp sweep.toml work/
  expect_bad "ensemble of an invalid config" ensemble "$SRC/configs/invalid/ensemble_unknown_parameter_key.toml" --out d
  expect_bad "ensemble with a bad --set" ensemble sweep.toml --out d --set behaviour.adjustment=2
  expect_bad "ensemble without --replications or [ensemble]" ensemble "$TWO" --out d
  expect_bad "ensemble --replications 0" ensemble sweep.toml --replications 0 --out d
  expect_bad "ensemble on 1 rank, 2 per replicate" ensemble sweep.toml --ranks-per-replicate 2 --out d
  expect_bad "ensemble without --out" ensemble sweep.toml
  expect_bad "ensemble into a missing parent" ensemble sweep.toml --out no/such/d
}

# `decouple merge`: contents and summaries against numpy (check_merge.py), a failed and a
# missing replicate, CSV export; mixed configurations refused with nothing written.
t_merge_contents() {
  need_python
  # ρ = -0.1 is invalid: replicates 1 and 4 fail; replicate 5 is deleted (missing).
  run_cmd e ensemble "$ENS" --replications 7 --out ens "${SHORT[@]}" \
    --set 'ensemble.parameter[0].values=[0.0, -0.1, 0.2]'
  [[ $rc -eq 0 ]] || die "ensemble: exit $rc: $(cat e.err)"
  rm ens/rep_5.h5
  run_cmd m merge ens --out merged.h5
  [[ $rc -eq 0 ]] || die "merge: exit $rc: $(cat m.err)"
  grep -qF 'merged 7 replicates (4 ok, 2 failed, 1 missing) into merged.h5' m.out || fail "merge output: $(cat m.out)"
  [[ ! -e merged.h5.partial ]] || fail "merged.h5.partial left behind"
  "$PY" "$HERE/check_merge.py" merged.h5 ens --expect-n 7 --expect-failed 1,4 --expect-missing 5 || fail "check_merge.py"
  # The same from a list of files (the ok ones and the failure records).
  run_cmd f merge ens/rep_0.h5 ens/rep_2.h5 ens/rep_3.h5 ens/rep_6.h5 ens/rep_1.failed ens/rep_4.failed --out files.h5
  [[ $rc -eq 0 ]] || fail "merge FILES: exit $rc: $(cat f.err)"
  "$PY" "$HERE/compare_panels.py" merged.h5 files.h5 --expect same || fail "merge of FILES differs from merge of DIR"
  run_cmd i info merged.h5
  [[ $rc -eq 0 ]] || fail "info merged.h5: exit $rc"
  grep -qE '^/replicates  \(5 columns, 7 rows\)' i.out || fail "info: no /replicates: $(grep -n replicates i.out)"
  grep -qE '^/summary/market  \(.*periods 0\.\.23\)' i.out || fail "info: no /summary/market with periods"
  run_cmd x export merged.h5 --csv csv
  [[ $rc -eq 0 ]] || fail "export merged.h5: exit $rc: $(cat x.err)"
  [[ -f csv/replicates.csv && -f csv/summary_market.csv && -f csv/market.csv ]] || fail "export: $(ls csv)"
  "$PY" -c '
import pandas as pd, sys
r = pd.read_csv("csv/replicates.csv")
ok = list(r.status) == ["ok", "failed", "ok", "ok", "failed", "missing", "ok"]
ok &= list(r.columns) == ["index", "seed", "status", "message", "behaviour.uncertainty_premium"]
ok &= list(r["behaviour.uncertainty_premium"]) == [0.0, -0.1, 0.2, 0.0, -0.1, 0.2, 0.0]
s = pd.read_csv("csv/summary_market.csv")
ok &= {"good", "region", "price_mean", "price_q95"} <= set(s.columns) and s.good.dtype == object
sys.exit(0 if ok else 1)' || fail "replicates.csv / summary_market.csv"
  # scripts/report draws the ensemble: bands, the indicator table, the sensitivity to ρ.
  set +e
  "$SRC/scripts/report" merged.h5 --out rep >rp.out 2>rp.err
  rc=$?
  set -e
  [[ $rc -eq 0 ]] || fail "report on merged.h5: exit $rc: $(cat rp.err)"
  local fig
  for fig in ensemble_shares.png ensemble_costs.png; do [[ -s rep/$fig ]] || fail "report: no $fig: $(ls rep)"; done
  compgen -G "rep/sensitivity_*.png" >/dev/null || fail "report: no sensitivity figure: $(ls rep)"
  grep -q "median \[5%, 95%\] over replicates" rep/summary.md || fail "report: no indicator table"
  grep -q "| replicates ok / failed / missing | 4 / 2 / 1 |" rep/summary.md || fail "report: counts: $(grep -n replicates rep/summary.md)"
  # An existing output is kept without --force.
  local h; h=$(sha merged.h5)
  run_cmd m2 merge ens --out merged.h5
  [[ $rc -eq 2 && $(sha merged.h5) == "$h" ]] || fail "merge over an existing file without --force: exit $rc"

  # Mixed configurations: refused, one line naming both files, nothing written.
  run_cmd o run "$ENS" --replicate 9 --out other.h5 --quiet "${SHORT[@]}" --set run.periods=12
  [[ $rc -eq 0 ]] || die "other run: exit $rc"
  run_cmd x merge ens/rep_0.h5 other.h5 --out mixed.h5
  [[ $rc -eq 2 ]] || fail "mixed configs: exit $rc, expected 2"
  [[ $(wc -l <x.err) -eq 1 ]] || fail "mixed configs: not one line: $(cat x.err)"
  grep -qF other.h5 x.err && grep -qF ens/rep_0.h5 x.err || fail "mixed configs: message does not name both files: $(cat x.err)"
  grep -qF config_id x.err || fail "mixed configs: message does not say config_id: $(cat x.err)"
  [[ ! -e mixed.h5 && ! -e mixed.h5.partial ]] || fail "mixed configs: output written"
  mkdir work
  expect_bad "merge of a missing folder" merge nowhere --out x.h5
  expect_bad "merge of an empty folder" merge . --out x.h5
  expect_bad "merge without --out" merge .
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
  # --timings: one table, printed once, a column per rank and a row per phase; the panels
  # are those of the run without it.
  mpi_cmd t 3 run "$SRC/configs/synthetic/small.toml" --out t.h5 --timings
  [[ $rc -eq 0 ]] || die "--timings: exit $rc: $(cat t.err)"
  [[ $(grep -c '^seconds per rank' t.out) -eq 1 ]] || fail "--timings: table not printed once: $(cat t.out)"
  grep -qE '^phase +rank 0 +rank 1 +rank 2$' t.out || fail "--timings: no column per rank: $(cat t.out)"
  local phase
  for phase in policy "border terms" offers "to markets" clearing "to firms" "market side" "firm side" aggregates; do
    grep -qE "^$phase +([0-9]+\.[0-9]+ \+ +[0-9]+\.[0-9]+ *){3}$" t.out || fail "--timings: no row for $phase: $(cat t.out)"
  done
  "$PY" "$HERE/compare_panels.py" small1.h5 t.h5 --expect same || fail "--timings changed the panels"
  # --period-timings: a CSV row per period and rank (in that order) whose sums are the
  # --timings table's; an existing file is refused without --force; bench/period_timings.py
  # reads a 1-rank and a 3-rank file.
  mpi_cmd p 3 run "$SRC/configs/synthetic/small.toml" --out p.h5 --timings --period-timings p3.csv
  [[ $rc -eq 0 ]] || die "--period-timings: exit $rc: $(cat p.err)"
  "$PY" - p3.csv p.out 3 "$SRC/configs/synthetic/small.toml" <<'PYEOF' || fail "--period-timings: bad CSV"
import csv, re, sys, tomllib
path, out, ranks, cfg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
run = tomllib.load(open(cfg, "rb"))["run"]
periods = list(range(-run.get("burn_in", 0), run["periods"]))
phases = ["policy", "border_terms", "offers", "to_markets", "clearing", "to_firms", "market_side", "firm_side", "aggregates"]
rows = list(csv.DictReader(open(path)))
header = ["period", "rank"] + [f"{p}_{k}" for p in phases for k in ("work", "exchange")]
assert list(rows[0].keys()) == header, rows[0].keys()
assert [(int(r["period"]), int(r["rank"])) for r in rows] == [(t, q) for t in periods for q in range(ranks)], "row order"
assert all(float(v) >= 0 for r in rows for k, v in r.items() if k not in ("period", "rank")), "negative seconds"
text = open(out).read()
for p in phases:
    m = re.search(r"^" + p.replace("_", " ") + r" +(.*)$", text, re.M)
    table = [tuple(map(float, pair)) for pair in re.findall(r"([0-9]+\.[0-9]+) \+ +([0-9]+\.[0-9]+)", m.group(1))]
    assert len(table) == ranks, (p, m.group(1))
    for q in range(ranks):
        for i, k in enumerate(("work", "exchange")):
            s = sum(float(r[f"{p}_{k}"]) for r in rows if int(r["rank"]) == q)
            assert abs(s - table[q][i]) <= 0.006, (p, k, q, s, table[q][i])
PYEOF
  mpi_cmd p 3 run "$SRC/configs/synthetic/small.toml" --out p2.h5 --period-timings p3.csv
  [[ $rc -eq 2 ]] || fail "--period-timings over an existing file: exit $rc, expected 2"
  grep -qF -- "--period-timings" p.err || fail "--period-timings refusal does not name the option: $(cat p.err)"
  [[ ! -e p2.h5 ]] || fail "--period-timings refusal left an output"
  mpi_cmd p1 1 run "$SRC/configs/synthetic/small.toml" --out p1.h5 --quiet --period-timings p1.csv
  [[ $rc -eq 0 ]] || die "--period-timings, 1 rank: exit $rc: $(cat p1.err)"
  "$PY" "$SRC/bench/period_timings.py" p1.csv p3.csv --quiet-ms 1000 >pt.out || fail "period_timings.py: exit $?"
  grep -qE '^\| \*\*period\*\* ' pt.out && grep -qE '^loop: 1 rank ' pt.out || fail "period_timings.py: $(cat pt.out)"
  # bench/whole_run.py: a row per rank count, the panels compared, per-period scaling; its
  # files removed.
  mkdir wr
  "$PY" "$SRC/bench/whole_run.py" "$DECOUPLE" "$SRC/configs/synthetic/small.toml" --runs 1 --ranks 1 2 --check \
    --periods --out-dir wr >wr.out 2>wr.err || fail "whole_run.py: exit $?: $(cat wr.err)"
  grep -qE '^\| 1 \| [0-9.]+ s' wr.out && grep -qE '^\| 2 \| [0-9.]+ s' wr.out || fail "whole_run.py: no rows: $(cat wr.out)"
  grep -qE 'panels 1 vs 2 ranks: [0-9]+ datasets, 0 differ' wr.out || fail "whole_run.py: panels: $(cat wr.out)"
  grep -qE "^2 ranks against 1, per period .*quiet periods' speedup [0-9.]+" wr.out || fail "whole_run.py --periods: $(cat wr.out)"
  [[ -z "$(ls wr)" ]] || fail "whole_run.py left files: $(ls wr)"
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

# An ensemble under mpiexec: 2 ranks with 1 rank per replicate (two groups) and with 2 ranks per
# replicate give the same rep files as a serial ensemble; 3 ranks cannot form groups of 2.
t_ensemble_mpi() {
  need_python
  local i k
  run_cmd s ensemble "$ENS" --replications 4 --out serial "${SHORT[@]}"
  [[ $rc -eq 0 ]] || die "serial ensemble: exit $rc: $(cat s.err)"
  for k in 1 2; do
    mpi_cmd m$k 2 ensemble "$ENS" --replications 4 --ranks-per-replicate $k --out mpi$k "${SHORT[@]}"
    [[ $rc -eq 0 ]] || die "2 ranks, $k per replicate: exit $rc: $(cat m$k.err)"
    [[ $(grep -c '^ensemble: 4 replicates, 4 ok, 0 failed' m$k.out) -eq 1 ]] || fail "2 ranks, k=$k: summary not printed once: $(cat m$k.out)"
    for i in 0 1 2 3; do
      "$PY" "$HERE/compare_panels.py" serial/rep_$i.h5 mpi$k/rep_$i.h5 --expect same || fail "k=$k: rep_$i differs from serial"
      [[ $(h5attr mpi$k/rep_$i.h5 ranks) == "$k" ]] || fail "k=$k: rep_$i.h5 ran on $(h5attr mpi$k/rep_$i.h5 ranks) ranks"
    done
  done
  mkdir work
  pushd work >/dev/null
  mpi_cmd ../b 3 ensemble "$ENS" --replications 4 --ranks-per-replicate 2 --out d "${SHORT[@]}"
  popd >/dev/null
  [[ $rc -eq 2 ]] || fail "3 ranks in groups of 2: exit $rc, expected 2"
  [[ $(grep -c 'ranks-per-replicate' b.err) -eq 1 ]] || fail "3 ranks in groups of 2: not one message: $(cat b.err)"
  [[ -z "$(ls -A work)" ]] || fail "3 ranks in groups of 2 wrote $(ls work)"
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

# signal_when FILE SIGNAL DELAY PREFIX CMD...: runs CMD in the background (output to PREFIX.out
# and PREFIX.err), waits until FILE exists, then DELAY seconds, sends SIGNAL and waits for CMD;
# its exit status is in $rc.
signal_when() {
  local file=$1 sig=$2 delay=$3 prefix=$4; shift 4
  "$@" >"$prefix.out" 2>"$prefix.err" &
  bg_pid=$!
  wait_for "$file" "$bg_pid" || die "$* never created $file: $(cat "$prefix.err")"
  sleep "$delay"
  kill -"$sig" "$bg_pid"
  set +e; wait "$bg_pid"; rc=$?; set -e
  bg_pid=""
}

# SIGTERM to a running single-process run: it finishes the period, writes the checkpoint and
# exits 3; resuming gives the uninterrupted run's panels.
t_checkpoint_signal() {
  need_python
  local c="$SRC/configs/synthetic/small.toml" opts=(--set run.periods=600 --quiet)
  run_cmd full run "$c" --out full.h5 "${opts[@]}"
  [[ $rc -eq 0 ]] || die "full run: exit $rc: $(cat full.err)"
  signal_when sig.h5.partial TERM 0.3 sig "$DECOUPLE" run "$c" --out sig.h5 "${opts[@]}"
  expect_stopped sig sig.h5
  grep -q "stopped on SIGTERM" sig.err || fail "the message does not name SIGTERM: $(cat sig.err)"
  run_cmd res run "$c" --out sig.h5 "${opts[@]}" --resume sig.h5.checkpoint.h5
  [[ $rc -eq 0 ]] || fail "resume: exit $rc: $(cat res.err)"
  "$PY" "$HERE/compare_panels.py" full.h5 sig.h5 --expect same || fail "resumed run differs"
}

# SIGTERM to a running ensemble: the replicate in progress is checkpointed, the command exits 3,
# and running the same command again resumes it and finishes the rest; every replicate equals
# `run --replicate I`.
t_ensemble_signal() {
  need_python
  local c="$SRC/configs/synthetic/small.toml" opts=(--set run.periods=600)
  signal_when ens/rep_0.h5.partial TERM 0.3 sig "$DECOUPLE" ensemble "$c" --replications 3 --out ens "${opts[@]}"
  [[ $rc -eq 3 ]] || fail "signalled ensemble: exit $rc, expected 3: $(cat sig.out sig.err)"
  [[ -f ens/rep_0.h5.checkpoint.h5 && ! -e ens/rep_0.h5 && ! -e ens/rep_0.h5.partial ]] ||
    fail "no checkpoint of rep_0 (or output left): $(ls ens)"
  grep -q "run the same command again" sig.err || fail "stderr does not say how to continue: $(cat sig.err)"
  run_cmd again ensemble "$c" --replications 3 --out ens "${opts[@]}"
  [[ $rc -eq 0 ]] || fail "continued ensemble: exit $rc: $(cat again.out again.err)"
  grep -qE '^ensemble: 3 replicates, 3 ok' again.out || fail "continued ensemble: $(cat again.out)"
  [[ ! -e ens/rep_0.h5.checkpoint.h5 ]] || fail "the finished replicate's checkpoint was left"
  local i
  for i in 0 1 2; do
    run_cmd r$i run "$c" --replicate $i --out r$i.h5 --quiet "${opts[@]}"
    "$PY" "$HERE/compare_panels.py" r$i.h5 ens/rep_$i.h5 --expect same || fail "rep_$i differs from run --replicate $i"
  done
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
  local c="$SRC/configs/synthetic/small.toml" opts=(--set run.periods=600 --quiet)
  run_cmd full run "$c" --out full.h5 "${opts[@]}"
  [[ $rc -eq 0 ]] || die "full run: exit $rc: $(cat full.err)"
  signal_when sig.h5.partial USR1 0.5 sig "$MPIEXEC" -n 2 "$DECOUPLE" run "$c" --out sig.h5 "${opts[@]}"
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
