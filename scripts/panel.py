#!/usr/bin/python3
"""Read decouple run files (HDF5, DESIGN.md §6) into pandas.

    import panel
    df = panel.load("out/run.h5", "market")        # coded columns decoded to names

Functions
  load(path, panel, decode=True)   /panel/<panel> as a DataFrame (decode: True, False or "both")
  load_meta(path, name)            /meta/<name>: a list of names, or a DataFrame for tables
  attrs(path)                      root attributes as a dict of Python values
  date(df, path)                   adds a `date` column (pandas Period, monthly) from `period`
  panels(path)                     names of the panels the file holds
  bloc_panel(path)                 /panel/bloc, or the same table derived from /panel/trade
  replicates(path)                 an ensemble file's /replicates (index, seed, status, message,
                                   one column per swept parameter); None for a single run
  open_run(path)                   the validated, open h5py.File (raises PanelError)

`path` may also be an open h5py.File. User errors (missing file, not a decouple file, no
such panel) raise PanelError with a one-line message.

Command line (any working directory):
  scripts/panel.py FILE PANEL [--csv OUT] [--raw] [--rows N]
PANEL is a panel name (market, trade, firm, government, policy, bloc) or meta/<name>.
Without --csv it prints the head and describe(); exit status 2 on user errors.
"""
import argparse
import contextlib
import os
import sys

import numpy as np
import pandas as pd

try:
    import h5py
except ImportError:  # pragma: no cover - reported by the CLI
    h5py = None

FORMAT = "decouple-panel"
BLOCS = ("west", "china", "third")
ADVERSARY = {"west": "china", "china": "west"}

__all__ = ["PanelError", "load", "load_meta", "attrs", "date", "panels", "bloc_panel",
           "open_run", "has_panel", "region_blocs", "replicates"]


class PanelError(Exception):
    """A user error: missing file, not a decouple file, no such panel. The message is one line."""


# ------------------------------------------------------------------------------------------------
# files

def open_run(path):
    """Open a decouple run file read-only, checking that it is one.

    Example: `with panel.open_run("out/run.h5") as f: print(list(f["panel"]))`
    """
    if h5py is None:
        raise PanelError("python3-h5py is not installed (apt-get install python3-h5py)")
    p = os.fspath(path)
    if not os.path.exists(p):
        raise PanelError(f"{p}: no such file")
    if os.path.isdir(p):
        raise PanelError(f"{p}: is a directory, not a decouple run file")
    try:
        is_h5 = h5py.is_hdf5(p)
    except OSError as e:
        raise PanelError(f"{p}: cannot read: {e.strerror or e}") from None
    if not is_h5:
        raise PanelError(f"{p}: not an HDF5 file (expected a decouple run file)")
    try:
        f = h5py.File(p, "r")
    except OSError as e:
        raise PanelError(f"{p}: cannot open as HDF5: {e}") from None
    fmt = _py(f.attrs.get("format"))
    if fmt != FORMAT:
        f.close()
        raise PanelError(f"{p}: not a decouple run file (root attribute format={fmt!r}, "
                         f"expected {FORMAT!r})")
    return f


@contextlib.contextmanager
def _file(path):
    if h5py is not None and isinstance(path, h5py.File):
        yield path
    else:
        f = open_run(path)
        try:
            yield f
        finally:
            f.close()


def _py(v):
    """numpy/bytes values → plain Python values."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        if v.shape == ():
            return _py(v[()])
        return [_py(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _strings(ds):
    return [_py(x) for x in ds[()]] if ds.shape != () else [_py(ds[()])]


def _is_string_ds(ds):
    return ds.dtype.kind in ("O", "S", "U")


# ------------------------------------------------------------------------------------------------
# public API

def attrs(path):
    """Root attributes as a dict of Python values (str, int, float).

    Example: `a = panel.attrs("out/run.h5"); print(a["scenario"], a["seed"], a["start"])`
    """
    with _file(path) as f:
        return {k: _py(v) for k, v in f.attrs.items()}


def panels(path):
    """Names of the panels in the file, e.g. ['market', 'trade', ...].

    Example: `panel.panels("out/run.h5")`
    """
    with _file(path) as f:
        return list(f["panel"].keys()) if "panel" in f else []


def has_panel(path, name):
    """True if /panel/<name> exists. Example: `panel.has_panel("out/run.h5", "bloc")`"""
    with _file(path) as f:
        return f"panel/{name}" in f


def _decoder(f, codes_path, cache):
    """Names for a `codes` attribute (a string dataset, possibly a table column), or None."""
    if codes_path in cache:
        return cache[codes_path]
    names = None
    key = codes_path.lstrip("/")
    if key in f and isinstance(f[key], h5py.Dataset) and _is_string_ds(f[key]):
        names = np.array(_strings(f[key]), dtype=object)
    cache[codes_path] = names
    return names


def _decode(codes, names):
    codes = np.asarray(codes)
    out = np.full(codes.shape, None, dtype=object)
    ok = (codes >= 0) & (codes < len(names))
    out[ok] = names[codes[ok]]
    return out


def _read_group(f, g, decode, cache):
    if decode not in (True, False, "both"):
        raise ValueError(f"decode must be True, False or 'both', not {decode!r}")
    data = {}
    for k in g.keys():  # creation order (the recorder's column order) when the file tracks it
        ds = g[k]
        if not isinstance(ds, h5py.Dataset):
            continue
        v = _strings(ds) if _is_string_ds(ds) else ds[()]
        codes = _py(ds.attrs.get("codes")) if decode else None
        names = _decoder(f, codes, cache) if codes else None
        if names is not None and not _is_string_ds(ds):
            if decode == "both":
                data[k] = _decode(v, names)
                data[k + "_code"] = v
            else:
                data[k] = _decode(v, names)
        else:
            data[k] = v
    lengths = {len(np.atleast_1d(v)) for v in data.values()}
    if len(lengths) > 1:
        raise PanelError(f"{f.filename}: {g.name}: columns of unequal length {sorted(lengths)}")
    return pd.DataFrame(data)


def load(path, panel, decode=True):
    """/panel/<panel> as a tidy DataFrame, one column per dataset.

    decode=True replaces every coded column (it has a `codes` attribute) by the names it
    points to (-1, "none", becomes None); decode=False keeps the integers; decode="both" keeps
    the names in <col> and the integers in <col>_code.
    `panel` may also be a full path such as "/summary/market".

    Example: `df = panel.load("out/run.h5", "market")`
    """
    with _file(path) as f:
        key = panel.lstrip("/") if "/" in panel else f"panel/{panel}"
        if key not in f or not isinstance(f[key], h5py.Group):
            have = ", ".join(f["panel"].keys()) if "panel" in f else "none"
            raise PanelError(f"{f.filename}: no panel {panel!r} (panels: {have})")
        return _read_group(f, f[key], decode, {})


def load_meta(path, name, decode=True):
    """/meta/<name>: a list of str for id lists (regions, goods, blocs, ...), a DataFrame for
    tables (firms, markets, region_blocs), coded columns decoded as in load().

    Example: `goods = panel.load_meta("out/run.h5", "goods")`
    """
    with _file(path) as f:
        key = "meta/" + name.strip("/").removeprefix("meta/")
        if key not in f:
            have = ", ".join(f["meta"].keys()) if "meta" in f else "none"
            raise PanelError(f"{f.filename}: no /{key} (meta: {have})")
        obj = f[key]
        if isinstance(obj, h5py.Group):
            return _read_group(f, obj, decode, {})
        if _is_string_ds(obj):
            return _strings(obj)
        return obj[()]


def replicates(path):
    """An ensemble file's /replicates as a DataFrame (index, seed, status, message, then one
    column per swept parameter, named by its dotted key), or None for a single run's file.
    Panels of an ensemble file carry a `replicate` column that joins on `index`.

    Example: `r = panel.replicates("out/ens/ensemble.h5"); r[r.status == "ok"]`
    """
    with _file(path) as f:
        if "replicates" not in f:
            return None
        return _read_group(f, f["replicates"], False, {})


def date(df, path):
    """Adds a `date` column (pandas Period, monthly) = root attribute `start` + `period`,
    in place, and returns df. `path` may also be the dict returned by attrs().

    Example: `df = panel.date(panel.load("out/run.h5", "market"), "out/run.h5")`
    """
    a = path if isinstance(path, dict) else attrs(path)
    start = a.get("start")
    if start is None:
        raise PanelError("file has no root attribute 'start'")
    try:
        p0 = pd.Period(str(start), freq="M")
    except (ValueError, TypeError):
        raise PanelError(f"root attribute start={start!r} is not a month (YYYY-MM)") from None
    if "period" not in df:
        raise PanelError("table has no 'period' column")
    per = np.asarray(df["period"], dtype=np.int64)
    if per.size == 0:
        df["date"] = pd.PeriodIndex([], freq="M")
        return df
    uniq = np.unique(per)
    idx = pd.PeriodIndex([p0 + int(k) for k in uniq], freq="M")
    df["date"] = idx[np.searchsorted(uniq, per)]
    return df


def region_blocs(path):
    """dict region name → bloc name, from /meta/region_blocs.

    Example: `panel.region_blocs("out/run.h5")["CN"]  # 'china'`
    """
    t = load_meta(path, "region_blocs")
    return dict(zip(t["region"], t["bloc"]))


# ------------------------------------------------------------------------------------------------
# bloc aggregates

BLOC_COLUMNS = ["period", "good", "bloc", "quantity", "dependency_share", "share_west",
                "share_china", "share_third", "price", "hhi_origins"]


def bloc_panel(path):
    """Supply to each bloc by good and month, with the adversary bloc's share.

    Returns (df, source): /panel/bloc when the file has it (source "/panel/bloc"); otherwise the
    same columns derived from /panel/trade (quantity by origin bloc into the destination bloc's
    regions, hhi_origins over the origin regions of that supply; source "/panel/trade"), or from
    /panel/market (supply × share_<bloc>; hhi_origins the quantity-weighted mean of the bloc's
    markets) without a trade panel. Derived prices are quantity-weighted market prices. dependency_share is NaN for the third bloc and for months
    in which the bloc receives nothing. Goods and blocs are names.

    Example: `b, src = panel.bloc_panel("out/run.h5"); b[b.bloc == "west"]`
    """
    with _file(path) as f:
        if "panel/bloc" in f:
            return load(f, "bloc"), "/panel/bloc"
        rb = region_blocs(f)
        market = load(f, "market") if "panel/market" in f else None
        hhi = None
        if "panel/trade" in f:
            t = load(f, "trade")
            t = t.assign(origin_bloc=t["origin"].map(rb), bloc=t["destination"].map(rb))
            src = "/panel/trade"
            flows = (t.groupby(["period", "good", "bloc", "origin_bloc"])["quantity"].sum()
                     .unstack("origin_bloc"))
            # HHI over origin regions of the bloc's aggregate supply (as /panel/bloc does)
            by_origin = t.groupby(["period", "good", "bloc", "origin"])["quantity"].sum()
            tot = by_origin.groupby(level=[0, 1, 2]).transform("sum")
            with np.errstate(invalid="ignore", divide="ignore"):
                sq = (10000.0 * (by_origin / tot) ** 2).where(tot > 0)
            hhi = sq.groupby(level=[0, 1, 2]).sum(min_count=1).rename("hhi_trade")
        elif market is not None:
            m = market.assign(bloc=market["region"].map(rb))
            parts = {b: m["supply"] * m[f"share_{b}"].fillna(0.0) for b in BLOCS
                     if f"share_{b}" in m}
            m = m.assign(**parts)
            flows = m.groupby(["period", "good", "bloc"])[list(parts)].sum()
            flows.columns.name = "origin_bloc"
            src = "/panel/market"
        else:
            raise PanelError(f"{f.filename}: neither /panel/bloc, /panel/trade nor /panel/market")
    flows = flows.reindex(columns=list(BLOCS), fill_value=0.0).fillna(0.0)
    total = flows.sum(axis=1)
    out = pd.DataFrame({"quantity": total})
    with np.errstate(invalid="ignore", divide="ignore"):
        for b in BLOCS:
            out[f"share_{b}"] = np.where(total > 0, flows[b] / total.where(total > 0), np.nan)
    out = out.reset_index()
    out["dependency_share"] = np.nan
    for b, adv in ADVERSARY.items():
        sel = out["bloc"] == b
        out.loc[sel, "dependency_share"] = out.loc[sel, f"share_{adv}"]
    out["price"] = np.nan
    out["hhi_origins"] = np.nan
    if market is not None:
        m = market.assign(bloc=market["region"].map(rb))
        q = m["quantity"].where(m["quantity"] > 0, 0.0)
        m = m.assign(_w=q, _pw=m["price"] * q, _hw=m["hhi_origins"] * q)
        agg = m.groupby(["period", "good", "bloc"])[["_w", "_pw", "_hw"]].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            agg["price"] = (agg["_pw"] / agg["_w"]).where(agg["_w"] > 0)
            agg["hhi_origins"] = (agg["_hw"] / agg["_w"]).where(agg["_w"] > 0)
        out = out.drop(columns=["price", "hhi_origins"]).merge(
            agg[["price", "hhi_origins"]].reset_index(), on=["period", "good", "bloc"], how="left")
    if hhi is not None:
        out = out.merge(hhi.reset_index(), on=["period", "good", "bloc"], how="left")
        out["hhi_origins"] = out.pop("hhi_trade")
    return out[BLOC_COLUMNS].sort_values(["period", "good", "bloc"]).reset_index(drop=True), src


# ------------------------------------------------------------------------------------------------
# command line

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="panel.py", description="Print or export one panel of a decouple run file.",
        epilog="example: scripts/panel.py out/default.h5 market --csv market.csv")
    ap.add_argument("file", help="run file (.h5)")
    ap.add_argument("panel", help="market, trade, firm, government, policy, bloc, or meta/<name>")
    ap.add_argument("--csv", metavar="OUT", help="write the table to this CSV file ('-': stdout)")
    ap.add_argument("--raw", action="store_true", help="keep integer codes (no decoding)")
    ap.add_argument("--date", action="store_true", help="add a date column (YYYY-MM)")
    ap.add_argument("--rows", type=int, default=10, metavar="N", help="rows of head to print")
    a = ap.parse_args(argv)
    decode = not a.raw
    try:
        if a.panel.strip("/").startswith("meta/"):
            df = load_meta(a.file, a.panel, decode=decode)
            if isinstance(df, (list, np.ndarray)):
                df = pd.DataFrame({a.panel.split("/")[-1]: list(df)})
        else:
            df = load(a.file, a.panel, decode=decode)
            if a.date and "period" in df:
                date(df, a.file)
        if a.csv:
            if a.csv == "-":
                df.to_csv(sys.stdout, index=False)
            else:
                try:
                    df.to_csv(a.csv, index=False)
                except OSError as e:
                    raise PanelError(f"{a.csv}: cannot write: {e.strerror or e}") from None
                print(f"wrote {a.csv} ({len(df)} rows, {df.shape[1]} columns)")
            return 0
        info = attrs(a.file)
        print(f"{a.file}: scenario={info.get('scenario')} seed={info.get('seed')} "
              f"periods={info.get('periods')} start={info.get('start')}")
        print(f"{a.panel}: {len(df)} rows × {df.shape[1]} columns")
        with pd.option_context("display.width", 200, "display.max_columns", 40):
            print(df.head(a.rows).to_string())
            num = df.select_dtypes("number")
            if not num.empty:
                print()
                print(num.describe().T.to_string())
        return 0
    except PanelError as e:
        print(f"panel.py: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
