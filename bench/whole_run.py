#!/usr/bin/python3
"""Whole-run benchmark: a config at 1 and 2 ranks (or any list), several runs each, medians.

Usage: bench/whole_run.py BUILD/app/decouple CONFIG [--ranks 1 2] [--runs 3] [--set k=v ...]
       [--out-dir DIR] [--check] [--keep] [--periods]

Each run is `mpiexec -n N decouple run CONFIG --out DIR/run_N_k.h5 --force` (stdout parsed:
the summary's throughput, peak memory, set-up, output and exchange shares, bytes per
period). Prints one table row per rank count with the medians (min–max of wall time) and the
speedup over the first rank count, also as the median of each round's own ratio: the runs go
in rounds, each rank count once per round (every other round in reverse order), so a drift in
the machine's speed hits all alike.
--check compares the panels of the first run at each rank count with
tests/e2e/compare_panels.py (bit for bit), right after round 1. Never asserts speed. A run's
file is deleted once its summary is read (round 1's once compared; a million-firm run writes
≈ 0.5 GB, ten of them filled a scratch disk): --keep keeps them all, and a temporary
directory the script made is removed at the end.
--periods also records every run's per-period phase times (`--period-timings`) and prints, per
rank count, the scaling over the periods in which the ranks kept pace (bench/period_timings.py,
round by round against the first rank count's run, medians over the rounds) and what the other
periods cost: how the program scales apart from a machine that slows one core at a time.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = {
    "wall": re.compile(r"written .* in ([0-9.]+) s \(([0-9.e+]+) firm-market updates/s, peak memory ([0-9]+) MB(?: per rank, ([0-9]+) MB in all)?\)"),
    "time": re.compile(r"set-up ([0-9.]+) s, output ([0-9.]+)%, exchange ([0-9.]+)% .*; ([0-9.e+]+) MB sent"),
}


def one_run(decouple, config, ranks, out, sets, periods=None):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = ["mpiexec", "-n", str(ranks)]
    if ranks > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")
    cmd += [decouple, "run", config, "--out", out, "--force"]
    for s in sets:
        cmd += ["--set", s]
    if periods:
        cmd += ["--period-timings", periods]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
    w = SUMMARY["wall"].search(p.stdout)
    t = SUMMARY["time"].search(p.stdout)
    if not w or not t:
        sys.exit(f"cannot parse the run summary:\n{p.stdout[-2000:]}")
    return {
        "wall": float(w.group(1)), "updates": float(w.group(2)),
        "memory_rank": float(w.group(3)), "memory_all": float(w.group(4) or w.group(3)),
        "setup": float(t.group(1)), "io": float(t.group(2)), "exchange": float(t.group(3)),
        "mb_per_period": float(t.group(4)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("decouple")
    ap.add_argument("config")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--out-dir")
    ap.add_argument("--check", action="store_true", help="compare panels across rank counts")
    ap.add_argument("--keep", action="store_true", help="keep every run's output file")
    ap.add_argument("--periods", action="store_true", help="per-period timings: scaling in the periods the ranks kept pace")
    a = ap.parse_args()
    made_dir = a.out_dir is None
    out_dir = a.out_dir or tempfile.mkdtemp(prefix="decouple-bench-")
    os.makedirs(out_dir, exist_ok=True)
    print(f"{a.config}: {a.runs} runs per rank count, files in {out_dir}")
    print("| ranks | wall time, median (min–max) | speedup | updates/s | peak memory per rank / all | "
          "set-up | output | exchange | MB sent per period |")
    print("|---|---|---|---|---|---|---|---|---|")
    # Rounds: every rank count once per round, so that a drift in the machine's speed (a
    # shared VM's neighbours) falls on all rank counts alike; the speedup is also given as
    # the median of each round's own ratio. Every other round runs the rank counts in reverse
    # order, so that a steady drift within a round does not favour one of them.
    runs = {n: [] for n in a.ranks}
    checked = []  # the panel comparisons' lines (round 1's files)
    for k in range(a.runs):
        for n in (a.ranks if k % 2 == 0 else a.ranks[::-1]):
            out = run_path(out_dir, n, k)
            runs[n].append(one_run(a.decouple, a.config, n, out, a.sets, run_path(out_dir, n, k, ".csv") if a.periods else None))
            print(f"round {k + 1}, {n} rank(s): {runs[n][-1]['wall']:.2f} s", file=sys.stderr, flush=True)
            if not a.keep and not (a.check and k == 0):
                os.remove(out)
        if k == 0 and a.check:
            # Compared (and then deleted) right away: kept to the end, round 1's files (≈ 0.5 GB
            # each for the million world) were written back by the kernel during later rounds.
            checked = check_panels(a.ranks, out_dir)
            if not a.keep:
                for n in a.ranks:
                    os.remove(run_path(out_dir, n, 0))
    base = statistics.median(r["wall"] for r in runs[a.ranks[0]])
    for n in a.ranks:
        med = {key: statistics.median(r[key] for r in runs[n]) for key in runs[n][0]}
        walls = [r["wall"] for r in runs[n]]
        paired = statistics.median(b["wall"] / r["wall"] for b, r in zip(runs[a.ranks[0]], runs[n]))
        print(f"| {n} | {med['wall']:.2f} s ({min(walls):.2f}–{max(walls):.2f}) | {base / med['wall']:.2f} "
              f"(paired {paired:.2f}) | "
              f"{med['updates']:.3g} | {med['memory_rank']:.0f} / {med['memory_all']:.0f} MB | "
              f"{med['setup']:.2f} s | {med['io']:.1f}% | {med['exchange']:.1f}% | {med['mb_per_period']:.3g} |",
              flush=True)
    if a.periods:
        print_period_scaling(a.ranks, a.runs, out_dir, a.keep)
    failed = False
    for line, ok in checked:
        print(line)
        failed = failed or not ok
    if not a.keep and made_dir:
        os.rmdir(out_dir)
    if failed:
        sys.exit(1)


def run_path(out_dir, ranks, k, suffix=".h5"):
    """Round k's run at `ranks` ranks: its output file, or (suffix ".csv") its per-period timings."""
    return os.path.join(out_dir, f"run_{ranks}_{k}{suffix}")


def print_period_scaling(ranks, rounds, out_dir, keep):
    """Per rank count after the first: the quiet periods' speedup and the loop's, round by round."""
    sys.path.insert(0, HERE)
    import period_timings as pt
    for n in ranks[1:]:
        quiet, loop, cost, counts = [], [], [], []
        for k in range(rounds):
            one, phases = pt.load(run_path(out_dir, ranks[0], k, ".csv"))
            many, _ = pt.load(run_path(out_dir, n, k, ".csv"))
            try:
                sc = pt.scaling(one, many, phases)
            except ValueError as e:
                print(f"round {k + 1}, {n} ranks: {e}")
                continue
            quiet.append(sc["period_1"] / sc["period_n"])
            loop.append(sc["loop_1"] / sc["loop_n"])
            cost.append(sc["loop_n"] - sc["ideal_n"])
            counts.append(f"{len(sc['quiet'])}/{len(sc['periods'])}")
        if quiet:
            print(f"{n} ranks against {ranks[0]}, per period (medians of {len(quiet)} rounds): quiet periods' speedup "
                  f"{statistics.median(quiet):.2f} ({', '.join(f'{x:.2f}' for x in quiet)}; quiet {', '.join(counts)}), "
                  f"loop's {statistics.median(loop):.2f}, the other periods cost {statistics.median(cost):.2f} s")
    if not keep:
        for n in ranks:
            for k in range(rounds):
                path = run_path(out_dir, n, k, ".csv")
                if os.path.exists(path):
                    os.remove(path)


def check_panels(ranks, out_dir):
    """Round 1's panels at each rank count against the first rank count's: (line, same?)."""
    lines = []
    first = run_path(out_dir, ranks[0], 0)
    for n in ranks[1:]:
        other = run_path(out_dir, n, 0)
        p = subprocess.run([sys.executable, os.path.join(HERE, "..", "tests", "e2e", "compare_panels.py"),
                            first, other, "--expect", "same"], capture_output=True, text=True)
        lines.append((f"panels {ranks[0]} vs {n} ranks: {p.stdout.strip().splitlines()[-1] if p.stdout else p.stderr}",
                      p.returncode == 0))
    return lines


if __name__ == "__main__":
    main()
