#!/usr/bin/env python3
"""Writes configs/synthetic/small.toml and million.toml: synthetic worlds of the calibrated
chain (configs/baseline_2024.toml), one typical region at 1/200 of the 2024 world.

Per region and good: target price P and monthly sales X (baseline world totals / 200), the
demand elasticity eps at the target, the input cost per unit at target input prices, and the
share of sales going to downstream firms (their input bids). Exogenous demand is the line
through (X - derived, P) with slope b = P / (eps * X); a and b vary across regions.
Firms: own marginal cost median = P * (1 - margin) - input cost; rising marginal cost
k = margin * P / q, q = X / (firms per region), so a firm at the median cost makes about q
at price P; capacity 2 q. Run: python3 configs/synthetic/make_synthetic.py
"""
import os

# good: (P, X per region, eps, transport, input cost per unit at target prices, derived X)
GOODS = {
    "ree_oxide":    (52.0,    60.0,  0.5,    1.0,    0.0, 37.5),   # magnets 0.3 x 125
    "sme":          (3000.0,  16.0,  1.5,   30.0,    0.0,  2.8),   # mature 0.1 x 15 + adv 1.0 x 1.3
    "eda":          (100.0,   75.0,  1.5,    1.0,    0.0, 13.0),   # adv 10 x 1.3
    "magnets":      (50.0,   125.0,  0.6,    1.0,   15.6, 32.0),   # autos 0.8 x 40
    "mature_chips": (2000.0,  15.0,  1.2,   20.0,  300.0,  1.6),   # autos 0.04 x 40
    "adv_chips":    (17000.0,  1.3,  1.0,  100.0, 4000.0, 0.06),   # ai 0.03 x 2
    "autos":        (28000.0, 40.0,  2.0, 1000.0,  120.0,  0.0),
    "ai_compute":   (25000.0,  2.0,  1.5,  200.0,  510.0,  0.0),
}
GOOD_HEAD = """[[good]]
id = "ree_oxide"
unit = "t"
transport_cost = 1.0
[[good]]
id = "sme"
unit = "tools"
transport_cost = 30.0
[[good]]
id = "eda"
unit = "licences"
transport_cost = 1.0
[[good]]
id = "magnets"
unit = "t"
inputs = { ree_oxide = 0.3 }
transport_cost = 1.0
inventory_cover = 1.5
[[good]]
id = "mature_chips"
unit = "thousand wafers"
inputs = { sme = 0.1 }
transport_cost = 20.0
progress_ratio = 0.8
learning_floor = 0.85
inventory_cover = 0.5
[[good]]
id = "adv_chips"
unit = "thousand wafers"
inputs = { sme = 1.0, eda = 10.0 }
transport_cost = 100.0
progress_ratio = 0.8
learning_floor = 0.85
[[good]]
id = "autos"
unit = "thousand vehicles"
inputs = { magnets = 0.8, mature_chips = 0.04 }
transport_cost = 1000.0
[[good]]
id = "ai_compute"
unit = "thousand accelerators"
inputs = { adv_chips = 0.03 }
transport_cost = 200.0
"""
MARGIN = 0.25      # (P - full marginal cost) / P of the median firm at the target price
COST_SIGMA = 0.1   # lognormal sigma of own marginal cost across firms


def g(v):
    return f"{v:.6g}"


def world(name, regions, firms_per_region, periods, burn_in, dest, firm_every, comment,
          kappa, spread, a_sigma, transport):
    """spread: b uniform in [1 - spread, 1 + spread] x b0 (region size); a_sigma: lognormal sigma
    of a; transport: None (baseline costs) or the cost as a share of the target price."""
    out = [comment, f"""[run]
scenario = "{name}"
periods = {periods}
seed = 2024
start = "2024-01"
burn_in = {burn_in}

[behaviour]
adjustment = {kappa}
bid_spread = 0.05
demand_window = 0.3
inventory_cover = 1.0

[output]
firm_every = {firm_every}
trade_every = {firm_every}
""", goods_table(transport), f"""[[region_group]]
id = "S"
count = {regions}
blocs = {{ west = 0.3, china = 0.2, third = 0.5 }}
"""]
    a_text = f"lognormal around a0 (sigma {a_sigma})" if a_sigma > 0 else "a0 in every region"
    out.append(f"[region_group.markets]   # a: {a_text}; b: uniform +-{spread:.0%} (region size)")
    for good, (P, X, eps, _tau, _inp, derived) in GOODS.items():
        b0 = P / (eps * X)
        a0 = P + b0 * (X - derived)
        out.append(f'{good} = {{ a = {a_dist(a0, a_sigma)}, '
                   f'b = {{ dist = "uniform", low = {g(b0 * (1 - spread))}, high = {g(b0 * (1 + spread))} }} }}')
    out.append("")
    for good, (P, X, eps, _tau, inp, _derived) in GOODS.items():
        n = firms_per_region[good]
        q = X / n
        c0 = P * (1 - MARGIN) - inp
        k = MARGIN * P / q
        soe = "\nsoe_share = 0.3\noutput_weight = " + g(0.05 * P) if good in ("ree_oxide", "magnets", "mature_chips") else ""
        out.append(f"""[[firm_group]]              # {n} per region; q = {g(q)} at P = {g(P)}
id = "{short(good)}"
good = "{good}"
count = {n * regions}
regions = "S"{soe}
marginal_cost = {{ dist = "lognormal", median = {g(c0)}, sigma = {COST_SIGMA} }}
cost_slope = {{ dist = "uniform", low = {g(0.8 * k)}, high = {g(1.2 * k)} }}
capacity = {{ dist = "lognormal", median = {g(2 * q)}, sigma = 0.2 }}
destinations = {{ min = {dest[0]}, max = {dest[1]} }}
""")
    return "\n".join(out)


def a_dist(a0, sigma):
    return f'{{ dist = "lognormal", median = {g(a0)}, sigma = {sigma} }}' if sigma > 0 else g(a0)


def goods_table(transport):
    if transport is None:
        return GOOD_HEAD
    out = []
    for line in GOOD_HEAD.splitlines():
        if line.startswith("id = "):
            good = line.split('"')[1]
        if line.startswith("transport_cost"):
            line = f"transport_cost = {g(transport * GOODS[good][0])}   # {transport:.0%} of the target price"
        out.append(line)
    return "\n".join(out) + "\n"


def short(good):
    return {"ree_oxide": "ree", "sme": "sme", "eda": "eda", "magnets": "mag", "mature_chips": "mat",
            "adv_chips": "adv", "autos": "auto", "ai_compute": "ai"}[good]


here = os.path.dirname(os.path.abspath(__file__))
SMALL = {"ree_oxide": 10, "sme": 8, "eda": 8, "magnets": 15, "mature_chips": 15, "adv_chips": 6,
         "autos": 25, "ai_compute": 13}                     # 100 per region
MILLION = {"ree_oxide": 500, "sme": 400, "eda": 400, "magnets": 750, "mature_chips": 750,
           "adv_chips": 300, "autos": 1250, "ai_compute": 650}  # 5,000 per region
with open(os.path.join(here, "small.toml"), "w") as f:
    f.write(world("synthetic_small", 20, SMALL, 36, 60, (3, 6), 1,
                  "# Synthetic world for tests: 20 regions, 2,000 firms, the calibrated chain of\n"
                  "# configs/baseline_2024.toml at 1/200 of the 2024 world per region.\n"
                  "# Regions differ in demand (a +-5%, b +-20%), so goods are traded at the\n"
                  "# baseline transport costs; kappa = 0.05 keeps the arbitrage between regions\n"
                  "# from cycling (about 30 exporters per market sit at the margin; 0.1 cycles).\n"
                  "# Generated by configs/synthetic/make_synthetic.py (edit it, not this file).\n",
                  kappa=0.05, spread=0.2, a_sigma=0.05, transport=None))
with open(os.path.join(here, "million.toml"), "w") as f:
    f.write(world("synthetic_million", 200, MILLION, 96, 36, (5, 10), 12,
                  "# Synthetic world for scaling runs: 200 regions, 1,000,000 firms (5,000 per region),\n"
                  "# the calibrated chain of configs/baseline_2024.toml at 1/200 of the 2024 world per\n"
                  "# region, each firm selling to 5-10 regions; firm rows yearly.\n"
                  "# Regions are alike in demand (b +-5%) and transport costs 10% of the price, so\n"
                  "# little is traded at rest, and kappa = 0.05: with thousands of exporters per\n"
                  "# market, interior arbitrage cycles under partial adjustment (docs/MODEL.md 2.7);\n"
                  "# with kappa = 0.1 rare earths and magnets cycle here, prices touching 0.\n"
                  "# Generated by configs/synthetic/make_synthetic.py (edit it, not this file).\n",
                  kappa=0.05, spread=0.05, a_sigma=0.0, transport=0.10))
