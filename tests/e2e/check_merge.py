#!/usr/bin/python3
"""Checks a merged ensemble file (decouple merge) against its replicate files, with numpy.

Usage: check_merge.py MERGED.h5 DIR --expect-n N --expect-failed I,J,... [--expect-missing K,...]
DIR holds the rep_<I>.h5 / rep_<I>.failed files that were merged. Exit 1 on any failure.
"""
import argparse
import glob
import os
import re
import sys

import h5py
import numpy as np

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def columns(g):
    return {k: g[k][()] for k in g}


def ints(s):
    return [int(x) for x in s.split(",") if x != ""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("merged")
    ap.add_argument("dir")
    ap.add_argument("--expect-n", type=int, required=True)
    ap.add_argument("--expect-failed", default="")
    ap.add_argument("--expect-missing", default="")
    a = ap.parse_args()

    reps = {}
    for p in glob.glob(os.path.join(a.dir, "rep_*.h5")):
        reps[int(re.match(r"rep_(\d+)\.h5$", os.path.basename(p)).group(1))] = h5py.File(p, "r")
    failed = {}
    for p in glob.glob(os.path.join(a.dir, "rep_*.failed")):
        i = int(re.match(r"rep_(\d+)\.failed$", os.path.basename(p)).group(1))
        if i not in reps:
            failed[i] = open(p).readline().rstrip("\n")
    ok = sorted(reps)
    check(sorted(failed) == ints(a.expect_failed), f"failed replicates {sorted(failed)} != {a.expect_failed}")
    m = h5py.File(a.merged, "r")
    first = reps[ok[0]]

    # Root attributes: the first ok replicate's plus the counts.
    at = m.attrs
    check(int(at["replications"]) == a.expect_n, f"replications {at['replications']} != {a.expect_n}")
    check(int(at["ok"]) == len(ok), f"ok {at['ok']} != {len(ok)}")
    check(int(at["failed"]) == len(failed), f"failed {at['failed']}")
    missing = [i for i in range(a.expect_n) if i not in reps and i not in failed]
    check(missing == ints(a.expect_missing), f"missing {missing} != {a.expect_missing}")
    check(int(at["missing"]) == len(missing), f"missing attr {at['missing']}")
    for k in ("format", "scenario", "config_id", "periods"):
        check(text(at[k]) == text(first.attrs[k]), f"root attribute {k} not the first ok replicate's")
    check(m["config"][()] == first["config"][()], "/config is not the first ok replicate's")

    # /replicates
    r = columns(m["replicates"])
    check(list(r) [:4] == ["index", "seed", "status", "message"], f"/replicates columns {list(r)}")
    check(r["index"].dtype == np.int64 and list(r["index"]) == list(range(a.expect_n)), "/replicates index")
    status = [text(s) for s in r["status"]]
    message = [text(s) for s in r["message"]]
    for i in range(a.expect_n):
        want = "ok" if i in reps else "failed" if i in failed else "missing"
        check(status[i] == want, f"replicate {i}: status {status[i]} != {want}")
        if i in reps:
            check(int(r["seed"][i]) == int(reps[i].attrs["seed"]), f"replicate {i}: seed")
            check(message[i] == "", f"replicate {i}: message of an ok replicate")
        if i in failed:
            check(message[i] == failed[i] and message[i] != "", f"replicate {i}: message {message[i]!r}")
            check(int(r["seed"][i]) >= 0, f"replicate {i}: the seed of a failed replicate is computable")
    params = list(r)[4:]
    for key in params:
        check(r[key].dtype == np.float64, f"parameter column {key} is not f64")
        for i in ok:
            # The value the replicate ran with is in its resolved /config (the last assignment).
            name = key.split(".")[-1]
            cfg = text(reps[i]["config"][()])
            vals = re.findall(rf"^{re.escape(name)} = (\S+)", cfg, re.M)
            check(any(float(v) == r[key][i] for v in vals), f"replicate {i}: {key} = {r[key][i]} not in its /config")

    # /panel: concatenation in index order with a leading replicate column.
    for name in first["panel"]:
        g = m[f"panel/{name}"]
        cols = list(g)
        check(cols[0] == "replicate" and g["replicate"].dtype == np.int64, f"panel {name}: no leading i64 replicate")
        check(cols[1:] == list(first[f"panel/{name}"]), f"panel {name}: columns {cols}")
        for c in cols[1:]:
            if c == "cause":
                continue  # codes remapped to the merged /meta/causes (checked below)
            want = np.concatenate([reps[i][f"panel/{name}/{c}"][()] for i in ok])
            got = g[c][()]
            check(got.dtype == first[f"panel/{name}/{c}"].dtype, f"panel {name}/{c}: dtype")
            check(got.tobytes() == want.tobytes(), f"panel {name}/{c}: not the replicates' rows")
        want = np.concatenate([np.full(len(reps[i][f"panel/{name}/period"]), i) for i in ok])
        check(np.array_equal(g["replicate"][()], want), f"panel {name}: replicate column")
    if "policy" in first["panel"]:
        causes = [text(x) for x in m["meta/causes"][()]]
        got = [causes[c] for c in m["panel/policy/cause"][()]]
        want = []
        for i in ok:
            mine = [text(x) for x in reps[i]["meta/causes"][()]]
            want += [mine[c] for c in reps[i]["panel/policy/cause"][()]]
        check(got == want, "policy causes do not decode to the replicates' causes")

    # /summary: per panel whose key columns agree; numbers against numpy.
    summarised = []
    for name in first["panel"]:
        cols = list(first[f"panel/{name}"])
        keys = []
        for c in cols:
            if first[f"panel/{name}/{c}"].dtype.kind != "i":
                break
            keys.append(c)
        same = bool(keys) and all(
            len(reps[i][f"panel/{name}/{keys[0]}"]) == len(first[f"panel/{name}/{keys[0]}"]) and
            all(np.array_equal(reps[i][f"panel/{name}/{k}"][()], first[f"panel/{name}/{k}"][()]) for k in keys)
            for i in ok) and len(first[f"panel/{name}/{keys[0]}"]) > 0
        check(same == (f"summary/{name}" in m), f"summary/{name}: present {not same}, keys identical {same}")
        if not same:
            continue
        summarised.append(name)
        s = m[f"summary/{name}"]
        for k in keys:
            check(np.array_equal(s[k][()], first[f"panel/{name}/{k}"][()]), f"summary/{name}/{k}: keys")
        check(np.all(s["n"][()] == len(ok)), f"summary/{name}/n")
        values = [c for c in cols if first[f"panel/{name}/{c}"].dtype.kind == "f"]
        want_cols = keys + ["n"] + [f"{v}_{q}" for v in values for q in ("mean", "q05", "q50", "q95")]
        check(list(s) == want_cols, f"summary/{name}: columns {list(s)[:8]}...")
        for v in values:
            x = np.stack([reps[i][f"panel/{name}/{v}"][()] for i in ok])  # replicates × rows
            for q, want in (("mean", np.mean(x, axis=0)), ("q05", np.quantile(x, 0.05, axis=0)),
                            ("q50", np.quantile(x, 0.5, axis=0)), ("q95", np.quantile(x, 0.95, axis=0))):
                got = s[f"{v}_{q}"][()]
                check(np.allclose(got, want, rtol=1e-12, atol=1e-12 * (1 + np.nanmax(np.abs(want), initial=0)),
                                  equal_nan=True),
                      f"summary/{name}/{v}_{q}: max diff {np.nanmax(np.abs(got - want), initial=0)}")
    check(len(summarised) >= 3, f"only {summarised} summarised")
    print(f"checked {len(ok)} ok, {len(failed)} failed, {len(missing)} missing; summaries: {summarised}")
    if failures:
        for f in failures:
            print("FAIL:", f, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
