#!/usr/bin/python3
"""Per-period phase times (`decouple run ... --period-timings FILE`): how a run on N ranks
scales against one on 1 rank in the periods where the machine lets it, and what the others cost.

Usage: bench/period_timings.py ONE_RANK.csv N_RANKS.csv [--quiet-ms 5] [--phase offers]

Prints, per phase, the median seconds a period at 1 rank (every period) and at N ranks (the
"quiet" periods: those whose ranks' work in --phase differs by less than --quiet-ms; the mean
of the ranks), and their ratio; the whole loop at both rank counts; what the N-rank loop would
take if every period took the quiet median; and the streaks, runs of consecutive periods in
which one rank's --phase work is slower by --quiet-ms or more. Reads the files only; never
asserts speed.
"""
import argparse
import collections
import csv
import statistics
import sys


def load(path):
    """{period: {rank: {column: seconds}}} and the phase names, in file order."""
    rows = collections.defaultdict(dict)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        phases = [c[: -len("_work")] for c in reader.fieldnames if c.endswith("_work")]
        for row in reader:
            rows[int(row["period"])][int(row["rank"])] = {k: float(v) for k, v in row.items() if k not in ("period", "rank")}
    if not rows:
        sys.exit(f"{path}: no rows")
    return rows, phases


def total(cols, phase):
    return cols[phase + "_work"] + cols[phase + "_exchange"]


def scaling(one, many, phases, quiet_ms=5.0, phase="offers"):
    """The comparison of a 1-rank and an N-rank run (as load() returns them): the quiet periods,
    per-phase medians and the loop's sums (seconds)."""
    ranks = sorted(next(iter(many.values())))
    if len(ranks) < 2:
        raise ValueError("the N-rank file has one rank only")
    periods = sorted(p for p in many if sorted(many[p]) == ranks)
    work = phase + "_work"
    spread = {p: max(many[p][r][work] for r in ranks) - min(many[p][r][work] for r in ranks) for p in periods}
    quiet = [p for p in periods if spread[p] < quiet_ms / 1000]
    if not quiet:
        raise ValueError(f"no period has its ranks' {phase} within {quiet_ms} ms")
    per_phase = {}
    for ph in phases:
        t1 = statistics.median(total(one[p][0], ph) for p in one)
        tn = statistics.median(statistics.fmean(total(many[p][r], ph) for r in ranks) for p in quiet)
        per_phase[ph] = (t1, tn)
    period_1 = statistics.median(sum(total(one[p][0], ph) for ph in phases) for p in one)
    period_n = statistics.median(statistics.fmean(sum(total(many[p][r], ph) for ph in phases) for r in ranks) for p in quiet)
    loop_1 = sum(sum(total(one[p][0], ph) for ph in phases) for p in one)
    loop_n = max(sum(sum(total(many[p][r], ph) for ph in phases) for p in periods) for r in ranks)
    return {"ranks": ranks, "periods": periods, "quiet": quiet, "spread": spread, "per_phase": per_phase,
            "period_1": period_1, "period_n": period_n, "loop_1": loop_1, "loop_n": loop_n,
            "ideal_n": len(periods) * period_n, "one_periods": len(one)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("one")
    ap.add_argument("many")
    ap.add_argument("--quiet-ms", type=float, default=5.0)
    ap.add_argument("--phase", default="offers")
    a = ap.parse_args()
    one, phases = load(a.one)
    many, _ = load(a.many)
    if a.phase not in phases:
        sys.exit(f"--phase {a.phase}: not one of {', '.join(phases)}")
    try:
        sc = scaling(one, many, phases, a.quiet_ms, a.phase)
    except ValueError as e:
        sys.exit(f"{a.many}: {e}")
    ranks, periods, quiet, spread = sc["ranks"], sc["periods"], sc["quiet"], sc["spread"]
    work = a.phase + "_work"

    print(f"{len(quiet)} of {len(periods)} periods quiet ({a.phase} within {a.quiet_ms:g} ms on {len(ranks)} ranks)")
    print(f"| phase | 1 rank, ms | {len(ranks)} ranks quiet, ms | ratio |")
    print("|---|---|---|---|")
    for phase, (t1, tn) in sc["per_phase"].items():
        print(f"| {phase.replace('_', ' ')} | {1000 * t1:.2f} | {1000 * tn:.2f} | {t1 / tn if tn > 0 else float('nan'):.2f} |")
    period_1, period_n = sc["period_1"], sc["period_n"]
    print(f"| **period** | **{1000 * period_1:.1f}** | **{1000 * period_n:.1f}** | **{period_1 / period_n:.2f}** |")
    loop1, loop_n, ideal = sc["loop_1"], sc["loop_n"], sc["ideal_n"]
    print(f"\nloop: 1 rank {loop1:.2f} s ({sc['one_periods']} periods), {len(ranks)} ranks {loop_n:.2f} s "
          f"({len(periods)} periods): ratio {loop1 / loop_n:.2f}")
    print(f"{len(ranks)}-rank loop if every period took the quiet median: {ideal:.2f} s; "
          f"the other periods cost {loop_n - ideal:.2f} s")
    diffs = {p: sum(abs(many[p][r][work] - statistics.fmean(many[p][q][work] for q in ranks)) for r in ranks) for p in periods}
    print(f"sum over periods of |{a.phase} work − the ranks' mean| (all ranks): {sum(diffs.values()):.2f} s")

    # Streaks: consecutive periods whose slowest rank (in the phase's work) is the same and
    # slower than the fastest by --quiet-ms or more.
    streaks, current = [], None
    for p in periods:
        slow = max(ranks, key=lambda r: many[p][r][work])
        if spread[p] >= a.quiet_ms / 1000:
            if current and current["rank"] == slow and current["last"] == p - 1:
                current["last"] = p
                current["gaps"].append(spread[p])
            else:
                current = {"rank": slow, "first": p, "last": p, "gaps": [spread[p]]}
                streaks.append(current)
        else:
            current = None
    long_ones = [s for s in streaks if s["last"] > s["first"]]
    print(f"\nstreaks of 2 or more periods with one rank slower in {a.phase}: {len(long_ones)}")
    for s in long_ones:
        print(f"  periods {s['first']}..{s['last']}: rank {s['rank']} slower by "
              f"{1000 * min(s['gaps']):.0f}-{1000 * max(s['gaps']):.0f} ms")


if __name__ == "__main__":
    main()
