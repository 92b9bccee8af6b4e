#!/usr/bin/python3
"""Checks a two_firm_check panel file against the layout of DESIGN.md §6 and the
closed-form equilibrium of §7. Usage: check_panel.py FILE.h5 [--config-out PATH]
(--config-out writes the /config text there, for `decouple validate`). Exit 1 on failure."""
import argparse
import re
import sys

import h5py
import numpy as np
import pandas as pd

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return text(v[()])
    return v


def strings(ds):
    return [text(x) for x in ds[:]]


ROOT_ATTRS = ["format", "format_version", "model_version", "scenario", "seed", "replicate",
              "periods", "start", "ranks", "created_utc", "wall_seconds"]
PANEL_COLUMNS = {
    "market": ["period", "good", "region", "price", "quantity", "demand", "hhi_firms",
               "hhi_origins", "dependency_share", "share_west", "share_china",
               "consumer_surplus", "shortage"],
    "trade": ["period", "good", "origin", "destination", "quantity", "value", "tariff_rate",
              "controlled"],
    "firm": ["period", "firm_id", "output", "planned_output", "price", "unit_cost", "capacity",
             "profit", "subsidy", "floor_payment", "status"],
    "government": ["period", "region", "tariff_revenue", "subsidy_outlay", "floor_outlay",
                   "soe_support", "equity_outlay", "output_lost", "rule_state"],
    "policy": ["period", "government", "instrument", "good", "partner", "value", "cause"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--config-out")
    args = ap.parse_args()

    f = h5py.File(args.file, "r")

    # Root attributes.
    a = f.attrs
    for k in ROOT_ATTRS:
        check(k in a, f"root attribute {k} missing")
    if all(k in a for k in ROOT_ATTRS):
        check(text(a["format"]) == "decouple-panel", f"format = {a['format']!r}")
        check(int(a["format_version"]) >= 1, "format_version < 1")
        check(len(text(a["model_version"])) > 0, "model_version empty")
        check(text(a["scenario"]) == "two-firm-check", f"scenario = {a['scenario']!r}")
        check(int(a["seed"]) == 7, f"seed = {a['seed']}")
        check(int(a["replicate"]) == 0, f"replicate = {a['replicate']}")
        check(int(a["periods"]) == 300, f"periods = {a['periods']}")
        check(text(a["start"]) == "2024-01", f"start = {a['start']!r}")
        check(int(a["ranks"]) >= 1, f"ranks = {a['ranks']}")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text(a["created_utc"])) is not None,
              f"created_utc = {a['created_utc']!r}")
        check(float(a["wall_seconds"]) >= 0.0, "wall_seconds < 0")

    # /config: the resolved TOML text.
    if check("config" in f and isinstance(f["config"], h5py.Dataset), "/config dataset missing"):
        cfg = text(f["config"][()])
        check(isinstance(cfg, str) and "[run]" in cfg, "/config is not TOML text with [run]")
        if args.config_out:
            with open(args.config_out, "w", encoding="utf-8") as out:
                out.write(cfg)

    # /meta
    for name in ["regions", "goods", "blocs"]:
        check(f"meta/{name}" in f and isinstance(f[f"meta/{name}"], h5py.Dataset),
              f"/meta/{name} dataset missing")
    regions = strings(f["meta/regions"]) if "meta/regions" in f else []
    goods = strings(f["meta/goods"]) if "meta/goods" in f else []
    blocs = strings(f["meta/blocs"]) if "meta/blocs" in f else []
    check(regions == ["HOME", "ABROAD"], f"/meta/regions = {regions}")
    check(goods == ["widget"], f"/meta/goods = {goods}")
    check({"west", "china"} <= set(blocs), f"/meta/blocs = {blocs}")
    firm_ids = []
    if check("meta/firms" in f and isinstance(f["meta/firms"], h5py.Group), "/meta/firms group missing"):
        g = f["meta/firms"]
        for col in ["firm_id", "region", "good", "kind", "entry_period", "destinations"]:
            check(col in g, f"/meta/firms/{col} missing")
        if "firm_id" in g:
            firm_ids = strings(g["firm_id"])
            check(firm_ids == ["home-1", "abroad-1"], f"/meta/firms/firm_id = {firm_ids}")

    # /panel/<name>: groups of equal-length 1-D datasets with units and description.
    frames = {}
    for name, columns in PANEL_COLUMNS.items():
        path = f"panel/{name}"
        if not check(path in f and isinstance(f[path], h5py.Group), f"/{path} group missing"):
            continue
        g = f[path]
        lengths = set()
        for k in g:
            d = g[k]
            if not check(isinstance(d, h5py.Dataset), f"/{path}/{k} is not a dataset"):
                continue
            check(d.ndim == 1, f"/{path}/{k} is not 1-D (shape {d.shape})")
            lengths.add(d.shape[0] if d.ndim else -1)
            for attr in ["units", "description"]:
                check(attr in d.attrs, f"/{path}/{k} has no '{attr}' attribute")
            if "description" in d.attrs:
                check(len(text(d.attrs["description"])) > 0, f"/{path}/{k} description empty")
        check(len(lengths) == 1, f"/{path} columns differ in length: {sorted(lengths)}")
        for col in columns:
            check(col in g, f"/{path}/{col} missing")
        frames[name] = pd.DataFrame({k: g[k][:] for k in g})  # the one-line load of DESIGN §6

    # The market panel and the equilibrium of DESIGN §7.
    if "market" in frames:
        df = frames["market"]
        check(len(df) == 300, f"market panel has {len(df)} rows, expected 300")
        check(bool((np.diff(df["period"].to_numpy()) >= 0).all()), "market periods not sorted")
        check(set(df["good"].unique()) <= set(range(len(goods))), "market good codes out of range")
        check(set(df["region"].unique()) <= set(range(len(regions))), "market region codes out of range")
        last = df.iloc[-1]
        check(int(last["period"]) == 299, f"last market period {last['period']}")
        check(abs(last["price"] - 46.13) <= 0.01, f"last price {last['price']:.4f}, expected 46.13 ± 0.01")
        check(abs(last["quantity"] - 147.74) <= 0.02,
              f"last quantity {last['quantity']:.4f}, expected 147.74 ± 0.02")
    if "firm" in frames and firm_ids:
        df = frames["firm"]
        check(len(df) == 2 * 300, f"firm panel has {len(df)} rows, expected 600")
        last = df[df["period"] == df["period"].max()]
        out = {firm_ids[int(r.firm_id)]: r.output for r in last.itertuples()}
        for fid, want in [("home-1", 72.27), ("abroad-1", 75.47)]:
            got = out.get(fid)
            check(got is not None and abs(got - want) <= 0.01,
                  f"last-period output of {fid}: {got}, expected {want} ± 0.01")

    f.close()
    if failures:
        for msg in failures:
            print(f"check_panel: {msg}", file=sys.stderr)
        return 1
    print(f"check_panel: ok ({', '.join(f'{k} {len(v)} rows' for k, v in frames.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
