#!/usr/bin/python3
"""Checks `decouple export FILE --csv DIR` output against FILE.
Usage: check_csv.py FILE.h5 DIR. Exit 1 on failure."""
import os
import sys

import h5py
import pandas as pd


def main():
    h5, folder = sys.argv[1], sys.argv[2]
    failures = []
    with h5py.File(h5, "r") as f:
        goods = [g.decode() if isinstance(g, bytes) else g for g in f["meta/goods"][:]]
        rows = {p: len(f[f"panel/{p}/period"]) for p in ["market", "trade", "firm", "government", "policy"]}
        market_cols = list(f["panel/market"].keys())

    for panel, n in rows.items():
        path = os.path.join(folder, f"{panel}.csv")
        if not os.path.exists(path):
            failures.append(f"{path} missing")
            continue
        df = pd.read_csv(path)
        if len(df) != n:
            failures.append(f"{panel}.csv has {len(df)} rows, the HDF5 panel {n}")
        if panel == "market":
            if set(df.columns) != set(market_cols):
                failures.append(f"market.csv columns {list(df.columns)} != HDF5 {market_cols}")
            if "good" in df and not set(df["good"]) <= set(goods):
                failures.append(f"market.csv good column holds {sorted(set(map(str, df['good'])))}, "
                                f"not names from /meta/goods {goods}")
            if "good" in df and "widget" not in set(df["good"]):
                failures.append("market.csv good column does not hold 'widget'")
            if "region" in df and not set(df["region"]) <= {"HOME", "ABROAD"}:
                failures.append(f"market.csv region column holds {sorted(set(map(str, df['region'])))}")

    if failures:
        for msg in failures:
            print(f"check_csv: {msg}", file=sys.stderr)
        return 1
    print(f"check_csv: ok ({rows})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
