#!/usr/bin/env python3
"""Tariff pass-through in a calibrated world (CAL §4: 2018-19 evidence ≈ 95% to buyers' prices).

    /usr/bin/python3 configs/calibration/pass_through.py BUILD/app/decouple [configs/baseline_2024.toml]

Runs the baseline and the baseline with the US tariff on Chinese goods 10 points higher from
2025-01, and reports for each good, over the last 12 months of the run: the rise of the US
buyers' price as a share of the tariff wedge (0.10 × China's border price before), the change in
China's border price (net of tariff) and in the China -> US flow.
"""
import os, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import panel  # noqa: E402

GOODS = ["ree_oxide", "magnets", "mature_chips", "autos"]
STEP = 0.10


def run(exe, cfg, out, extra=""):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", dir=os.path.dirname(cfg), delete=False) as t:
        t.write(f'base = "{os.path.basename(cfg)}"\n' + extra)
        name = t.name
    try:
        subprocess.run([exe, "run", name, "--out", out, "--force", "--quiet"], check=True)
    finally:
        os.unlink(name)


def main():
    exe = sys.argv[1]
    cfg = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "configs/baseline_2024.toml")
    d = tempfile.mkdtemp()
    base, hi = os.path.join(d, "base.h5"), os.path.join(d, "tariff.h5")
    run(exe, cfg, base)
    ev = ""
    for g in GOODS:
        ev += (f'[[event]]\nat = "2025-01"\ngovernment = "US"\ninstrument = "tariff"\ngood = "{g}"\n'
               f'partner = "CN"\nad_valorem = {0.21 + STEP}\ncause = "pass-through experiment"\n')
    run(exe, cfg, hi, ev)
    rows = []
    for g in GOODS:
        r = {}
        for tag, path in (("base", base), ("tariff", hi)):
            m = panel.load(path, "market")
            t = panel.load(path, "trade")
            last = m["period"].max()
            window = lambda df: df[df["period"] > last - 12]
            mu = window(m[(m["good"] == g) & (m["region"] == "US")])
            tr = window(t[(t["good"] == g) & (t["origin"] == "CN") & (t["destination"] == "US")])
            q = tr["quantity"].sum()
            r[tag] = dict(price=mu["price"].mean(),
                          border=(tr["value"].sum() / q) if q > 0 else float("nan"),  # value is net of the ad-valorem tariff
                          flow=tr["quantity"].mean())
        wedge = STEP * r["base"]["border"]
        rows.append((g, (r["tariff"]["price"] - r["base"]["price"]) / wedge,
                     r["tariff"]["border"] / r["base"]["border"] - 1.0,
                     r["tariff"]["flow"] / r["base"]["flow"] - 1.0))
    print(f"{'good':14s} {'pass-through':>12s} {'CN border price':>16s} {'CN->US flow':>12s}")
    for g, pt, bp, fl in rows:
        print(f"{g:14s} {pt:12.2f} {100 * bp:15.1f}% {100 * fl:11.1f}%")


if __name__ == "__main__":
    main()
