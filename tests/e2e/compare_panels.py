"""Compare every dataset under /panel and /meta of two decouple files, bit for bit.

Usage: compare_panels.py A.h5 B.h5 --expect same|different
Exit 0 when the expectation holds. NaNs compare equal to NaNs at the same place.
"""
import argparse
import sys

import h5py
import numpy as np


def datasets(f):
    out = {}
    for top in ("panel", "meta"):
        if top in f:
            f[top].visititems(lambda name, obj: out.__setitem__(f"{top}/{name}", obj)
                              if isinstance(obj, h5py.Dataset) else None)
    return out


def identical(x, y):
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    a, b = x[()], y[()]
    if a.dtype.kind == "f":
        return a.tobytes() == b.tobytes()  # bit-identical, NaN payloads included
    return np.array_equal(a, b)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--expect", choices=["same", "different"], required=True)
    args = p.parse_args()
    with h5py.File(args.a, "r") as fa, h5py.File(args.b, "r") as fb:
        da, db = datasets(fa), datasets(fb)
        if set(da) != set(db):
            print("dataset sets differ:", sorted(set(da) ^ set(db)))
            return 0 if args.expect == "different" else 1
        if not da:
            print("no datasets")
            return 1
        diff = [k for k in sorted(da) if not identical(da[k], db[k])]
    print(f"{len(da)} datasets, {len(diff)} differ: {diff[:8]}")
    ok = (not diff) if args.expect == "same" else bool(diff)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
