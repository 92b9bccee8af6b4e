#!/usr/bin/env python3
"""Generate configs/baseline_2024.toml from the calibration targets (docs/CALIBRATION_NOTES.md).

    /usr/bin/python3 configs/calibration/make_baseline.py            # writes configs/baseline_2024.toml
    /usr/bin/python3 configs/calibration/make_baseline.py --report   # design table only

Design: for every good, target prices P_d per destination market, target flows F[o][d]
(origin -> destination, units/month), n_o firms per origin and the elasticity of total demand
at the target. The engine's fitted local demand at the rest point has slope b̂ = P/(eps*X)
when input bids are flat in the fitting window, and Cournot sellers satisfy
P_d - b̂_d*q_id = M_od*(c_full_i - s - θ + e_od): the domestic market fixes an origin's mean
effective cost, the export routes' costs e_od then make each flow exact. The exogenous schedule
is the line through (X_d - input bids, P_d) whose finite-difference fit gives eps.
Money unit: thousand USD (k$), so k$/t = $/kg.
"""
import math, sys, os

BURN_IN = 240
KAPPA = 0.1
SPREAD = 0.05         # behaviour.bid_spread
WINDOW = 0.3          # behaviour.demand_window
# Price-sensitive restocking (MODEL §3.3 g): the buffer-rebuilding part of an input bid bids at
# most (1 + RESTOCK_MARKUP) x the expected input price (competitive storage: stocks are drawn
# down, not rebuilt, while the price is far above its expected level). Must keep those bids flat
# in the fit window: (1 - SPREAD)(1 + RESTOCK_MARKUP) > 1 + WINDOW.
RESTOCK_MARKUP = 0.5
# Bound on a market's monthly price rise (pro-rata allocation above it, as under supply
# contracts). With price-sensitive restocking it binds only in the month a buffer runs out
# (docs/CALIBRATION_NOTES.md, "2025 price spike").
MAX_PRICE_RISE = 0.5
SPARE = 1.25          # capacity / planned output
# Magnet makers outside China run close to capacity (so a cut-off of Chinese magnets cannot be
# made up from spare capacity elsewhere within a few months).
SPARE_BY = {("magnets", "PARTNERS"): 1.1, ("magnets", "ROW"): 1.1, ("magnets", "US"): 1.1}
PR_CHIPS = 0.8
FLOOR_CHIPS = 0.85
REGIONS = ["US", "CN", "PARTNERS", "ROW"]
BLOC = {"US": "west", "CN": "china", "PARTNERS": "west", "ROW": "third"}
TARIFF0 = {("US", "CN"): 0.21, ("CN", "US"): 0.21}   # (importer, exporter) -> ad valorem
# Competitive fringe on China's export routes: (good, origin) -> (share of each export flow it
# carries, its supply elasticity at the rest point); the generator writes price-taking firms for
# it. Off in the calibrated baseline: with (0.5, 10) on ree_oxide and magnets the tariff
# pass-through rises from 0.52 to 0.71 (configs/calibration/pass_through.py), but the fringe's
# fast exit drags SOE export prices under cost for months when western supply grows, which the
# reciprocal agreement's monitoring reads as a breach; higher elasticities cycle. See
# docs/CALIBRATION_NOTES.md (tariff pass-through).
FRINGE = {}
# Goods whose exogenous demand is isoelastic, Q = A·P^-e below a choke price CHOKE·P* (MODEL
# §2.3): with Cournot sellers, a constant-elasticity schedule passes cost and tariff changes
# through more than a linear one (Bulow-Pfleiderer 1983; Weyl-Fabinger 2013). e is chosen so the
# engine's fitted elasticity of total demand at the rest point is the market's eps, as for the
# linear schedule. Other goods keep linear demand.
ISOELASTIC = {"ree_oxide", "magnets"}
CHOKE = 10.0
FRINGE_SPARE = 3.0    # fringe capacity / rest-point output


# ---------------------------------------------------------------------------------------
# Goods: unit, inputs, learning, cover, default transport (for links without a route).
GOODS = {
  "ree_oxide":    dict(unit="t", inputs={}, cover=None, transport=1.0,
                       note="NdPr oxide (proxy for separated rare earths incl. heavy RE); k$/t = $/kg"),
  "magnets":      dict(unit="t", inputs={"ree_oxide": 0.3}, cover=0.75, transport=1.0,
                       note="sintered NdFeB magnets; k$/t = $/kg"),
  "sme":          dict(unit="tools", inputs={}, cover=None, transport=30.0,
                       note="wafer-fab equipment, average tool ≈ $3M"),
  "eda":          dict(unit="licences", inputs={}, cover=None, transport=1.0,
                       note="EDA software and IP, licence ≈ $100k"),
  "mature_chips": dict(unit="thousand wafers", inputs={"sme": 0.1}, cover=0.5, transport=20.0,
                       pr=PR_CHIPS, floor=FLOOR_CHIPS,
                       note="mature-node (>= 28 nm) wafers, 300 mm equivalent, ≈ $2,000/wafer"),
  "adv_chips":    dict(unit="thousand wafers", inputs={"sme": 1.0, "eda": 10.0}, cover=None,
                       transport=100.0, pr=PR_CHIPS, floor=FLOOR_CHIPS,
                       note="leading-edge (< 10 nm) wafers, ≈ $17,000/wafer"),
  "autos":        dict(unit="thousand vehicles", inputs={"magnets": 0.8, "mature_chips": 0.04},
                       cover=None, transport=1000.0,
                       note="light vehicles, ≈ $30k each"),
  "ai_compute":   dict(unit="thousand accelerators", inputs={"adv_chips": 0.03}, cover=None,
                       transport=200.0, note="AI accelerators (GPUs/ASICs), ≈ $25k each"),
}
ORDER = ["ree_oxide", "sme", "eda", "magnets", "mature_chips", "adv_chips", "autos", "ai_compute"]

# Markets: destination -> (target price k$/unit, elasticity of total demand (exogenous + flat
# input bids) at the target; the exogenous schedule's own elasticity is eps_tot * X / Q_exo)
MARKETS = {
  "ree_oxide":    {"CN": (52.0, 0.5), "US": (68.0, 0.5), "PARTNERS": (60.0, 0.5), "ROW": (49.0, 0.5)},
  "magnets":      {"CN": (48.0, 0.6), "US": (63.0, 0.6), "PARTNERS": (52.0, 0.6), "ROW": (51.0, 0.6)},
  "sme":          {"CN": (3300.0, 1.5), "US": (3000.0, 1.5), "PARTNERS": (3000.0, 1.5), "ROW": (3000.0, 1.5)},
  "eda":          {"CN": (120.0, 1.5), "US": (100.0, 1.5), "PARTNERS": (100.0, 1.5), "ROW": (103.0, 1.5)},
  "mature_chips": {"CN": (2000.0, 1.2), "US": (2250.0, 1.2), "PARTNERS": (2050.0, 1.2), "ROW": (2000.0, 1.2)},
  "adv_chips":    {"CN": (25000.0, 1.2), "US": (17500.0, 1.0), "PARTNERS": (17000.0, 1.0), "ROW": (17000.0, 1.0)},
  "autos":        {"CN": (22000.0, 2.0), "US": (32000.0, 2.0), "PARTNERS": (30000.0, 2.0), "ROW": (26000.0, 2.0)},
  "ai_compute":   {"CN": (40000.0, 1.5), "US": (25000.0, 1.5), "PARTNERS": (25000.0, 1.5), "ROW": (25000.0, 1.5)},
}

# Flows F[good][origin][destination], units/month (2024).
FLOWS = {
  "ree_oxide": {
    "CN":       {"CN": 9710, "PARTNERS": 520, "US": 130, "ROW": 560},
    "ROW":      {"ROW": 100, "PARTNERS": 430, "US": 70, "CN": 200},
    "US":       {"US": 50, "PARTNERS": 60},
    "PARTNERS": {"PARTNERS": 170},
  },
  "magnets": {
    "CN":       {"CN": 18150, "PARTNERS": 2700, "US": 650, "ROW": 1800},
    "PARTNERS": {"PARTNERS": 1350, "US": 200, "ROW": 50},
    "ROW":      {"ROW": 200, "US": 50, "PARTNERS": 50},
    "US":       {"US": 100},
  },
  "sme": {
    "US":       {"US": 300, "PARTNERS": 900, "ROW": 120},
    "PARTNERS": {"PARTNERS": 600, "CN": 850, "US": 100, "ROW": 67},
    "CN":       {"CN": 198},
    "ROW":      {"ROW": 40, "CN": 100, "PARTNERS": 25},
  },
  "eda": {
    "US":       {"US": 5400, "PARTNERS": 3500, "CN": 1800, "ROW": 1300},
    "PARTNERS": {"PARTNERS": 1000, "US": 600, "CN": 450, "ROW": 500},
    "CN":       {"CN": 450},
  },
  "mature_chips": {
    "CN":       {"CN": 700, "PARTNERS": 120, "US": 50, "ROW": 120},
    "PARTNERS": {"PARTNERS": 600, "CN": 300, "US": 200, "ROW": 280},
    "ROW":      {"ROW": 250, "CN": 60, "US": 30, "PARTNERS": 20},
    "US":       {"US": 270},
  },
  "adv_chips": {
    "PARTNERS": {"US": 125, "PARTNERS": 40, "ROW": 40},
    "US":       {"US": 30},
    "CN":       {"CN": 25},
  },
  "autos": {
    "CN":       {"CN": 2250, "ROW": 250},
    "US":       {"US": 875},
    "PARTNERS": {"PARTNERS": 1830, "US": 250},
    "ROW":      {"ROW": 1845, "US": 200},
  },
  "ai_compute": {
    "US":       {"US": 250, "CN": 30, "PARTNERS": 50, "ROW": 50},
    "CN":       {"CN": 30},
    "PARTNERS": {"PARTNERS": 10},
  },
}

# Extra links with zero designed flow (export-controlled in 2024): (good, origin) -> [dest]
CONTROLLED_LINKS = {("sme", "US"): ["CN"], ("adv_chips", "US"): ["CN"]}

# Firms: good -> origin -> list of (id, kind, theta). theta in k$/unit (SOE output weight).
FIRMS = {
  "ree_oxide": {
    "CN": [("cn-northern-re", "soe", 5.0), ("cn-china-re-1", "soe", 5.0), ("cn-china-re-2", "soe", 5.0),
           ("cn-china-re-3", "soe", 5.0), ("cn-shenghe", "soe", 5.0), ("cn-guangsheng", "soe", 5.0)],
    "ROW": [("row-lynas-my", "western", 0), ("row-lynas-2", "western", 0), ("row-refiner-3", "western", 0)],
    "US": [("us-mp-materials", "western", 0)],
    "PARTNERS": [("pa-neo-solvay", "western", 0)],
  },
  "magnets": {
    "CN": [("cn-jl-mag", "western", 0), ("cn-ningbo-yunsheng", "western", 0), ("cn-zhong-ke-san-huan", "western", 0),
           ("cn-ningbo-jintian", "western", 0), ("cn-zhenghai", "western", 0), ("cn-innuovo", "western", 0),
           ("cn-baotou-tianhe", "soe", 3.0), ("cn-china-re-magnet", "soe", 3.0)],
    "PARTNERS": [("pa-shin-etsu", "western", 0), ("pa-proterial-tdk", "western", 0), ("pa-vac", "western", 0)],
    "ROW": [("row-magnets-vn", "western", 0)],
    "US": [("us-noveon", "western", 0)],
  },
  "sme": {
    "US": [("us-amat", "western", 0), ("us-lam", "western", 0), ("us-kla", "western", 0), ("us-sme-4", "western", 0)],
    "PARTNERS": [("pa-asml", "western", 0), ("pa-tel", "western", 0), ("pa-asm-screen", "western", 0), ("pa-kokusai", "western", 0)],
    "CN": [("cn-naura", "soe", 150.0), ("cn-amec", "soe", 150.0)],
    "ROW": [("row-sme-1", "western", 0), ("row-sme-2", "western", 0)],
  },
  "eda": {
    "US": [("us-synopsys", "western", 0), ("us-cadence", "western", 0), ("us-ansys", "western", 0)],
    "PARTNERS": [("pa-siemens-eda", "western", 0), ("pa-arm-ip", "western", 0)],
    "CN": [("cn-empyrean", "soe", 5.0), ("cn-primarius", "soe", 5.0)],
  },
  "mature_chips": {
    "CN": [("cn-smic-mature", "soe", 100.0), ("cn-hua-hong", "soe", 100.0), ("cn-nexperia-china", "western", 0),
           ("cn-nexchip", "western", 0), ("cn-cr-micro", "soe", 100.0)],
    "PARTNERS": [("pa-tsmc-mature", "western", 0), ("pa-umc", "western", 0), ("pa-samsung-mature", "western", 0),
                 ("pa-infineon-st", "western", 0), ("pa-nxp-psmc", "western", 0)],
    "ROW": [("row-sg-fab", "western", 0), ("row-my-fab", "western", 0), ("row-il-fab", "western", 0)],
    "US": [("us-ti", "western", 0), ("us-globalfoundries", "western", 0), ("us-microchip", "western", 0)],
  },
  "adv_chips": {
    "PARTNERS": [("pa-tsmc", "western", 0), ("pa-samsung-foundry", "western", 0), ("pa-tsmc-japan", "western", 0)],
    "US": [("us-intel", "western", 0), ("us-tsmc-arizona", "western", 0)],
    "CN": [("cn-smic-adv", "soe", 1000.0), ("cn-huawei-fab", "soe", 1000.0)],
  },
  "autos": {
    "CN": [("cn-byd", "western", 0), ("cn-saic", "soe", 500.0), ("cn-geely", "western", 0), ("cn-faw-dongfeng", "soe", 500.0)],
    "US": [("us-gm", "western", 0), ("us-ford", "western", 0), ("us-stellantis-tesla", "western", 0)],
    "PARTNERS": [("pa-toyota", "western", 0), ("pa-vw", "western", 0), ("pa-hyundai", "western", 0),
                 ("pa-stellantis-eu", "western", 0), ("pa-honda-nissan", "western", 0)],
    "ROW": [("row-autos-mx", "western", 0), ("row-autos-in", "western", 0), ("row-autos-br", "western", 0),
            ("row-autos-th", "western", 0)],
  },
  "ai_compute": {
    "US": [("us-nvidia", "western", 0), ("us-amd", "western", 0), ("us-hyperscaler-asic", "western", 0)],
    "CN": [("cn-huawei-ascend", "western", 0), ("cn-cambricon", "soe", 2000.0)],
    "PARTNERS": [("pa-accelerator", "western", 0)],
  },
}
DEV = 0.2   # cost spread within an origin: ± DEV × the smallest markup of the mean firm

# China's production subsidies (k$/unit of output): ≈ 10% of revenue for chips (CAL §2).
SUBSIDY = {("CN", "mature_chips"): 180.0, ("CN", "adv_chips"): 2500.0}


def fmt(x, sig=6):
    if x == 0:
        return "0.0"
    s = f"{x:.{sig}g}"
    if "e" in s:
        s = f"{x:.2f}"
    if "." not in s:
        s += ".0"
    return s


def learning_multiplier(good, firm_id, y, k):
    """Estimate c(period 0)/c0 for a firm producing y/month from the start of the burn-in."""
    pr = GOODS[good].get("pr", 1.0)
    if pr >= 1.0:
        return 1.0
    z0 = 12.0 * k
    z = z0 + (BURN_IN - 15) * y
    return max(GOODS[good].get("floor", 0.5), (z / z0) ** math.log2(pr))


def fitted_eta(P, X, qexo, b):
    """Elasticity the engine's finite-difference fit reports at the rest point (flat bids)."""
    lo, hi = P * (1 - WINDOW), P * (1 + WINDOW)
    q = lambda p: max(0.0, qexo + (P - p) / b)
    d = (q(lo) - q(hi)) / (hi - lo)
    return d * P / X


def exo_slope(P, X, qexo, eps):
    """Slope b of the exogenous schedule through (qexo, P) whose fitted elasticity is eps."""
    lo, hi = 1e-12, 1e12
    for _ in range(300):
        mid = math.sqrt(lo * hi)
        if fitted_eta(P, X, qexo, mid) > eps: lo = mid
        else: hi = mid
    return math.sqrt(lo * hi)


def fitted_eta_iso(P, X, qexo, e):
    """Fitted elasticity of total demand (flat bids) with an isoelastic schedule of own elasticity e."""
    k = ((1 - WINDOW) ** -e - (1 + WINDOW) ** -e) / (2 * WINDOW)
    return qexo * k / X


def exo_elasticity(P, X, qexo, eps):
    lo, hi = 1e-6, 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if fitted_eta_iso(P, X, qexo, mid) > eps: hi = mid
        else: lo = mid
    return 0.5 * (lo + hi)


def solve():
    prod = {g: {r: 0.0 for r in REGIONS} for g in GOODS}
    for g, fl in FLOWS.items():
        for o, row in fl.items():
            prod[g][o] = sum(row.values())
    derived = {g: {r: 0.0 for r in REGIONS} for g in GOODS}
    for g, spec in GOODS.items():
        for h, u in spec["inputs"].items():
            for r in REGIONS:
                derived[h][r] += u * prod[g][r]
    out = {"markets": {}, "firms": [], "routes": [], "checks": []}
    for g in ORDER:
        fl = FLOWS[g]
        X = {d: sum(fl[o].get(d, 0.0) for o in fl) for d in REGIONS}
        mk = {}
        for d, (P, eps) in MARKETS[g].items():
            if X[d] <= 0:
                continue
            qexo = X[d] - derived[g][d]
            assert qexo > 0, (g, d, qexo)
            b = exo_slope(P, X[d], qexo, eps)
            a = P + b * qexo
            e_iso = exo_elasticity(P, X[d], qexo, eps) if g in ISOELASTIC else None
            eta = eps
            if not (WINDOW <= eta <= 1 / WINDOW):
                out["checks"].append(f"WARN {g}@{d}: fitted elasticity {eta:.3f} outside clamp")
            bh = P / (eps * X[d])           # b-hat the sellers see at the rest point
            mk[d] = dict(P=P, b=bh, bexo=b, a=a, qexo=qexo, X=X[d], derived=derived[g][d], eta=eta, eps_exo=eps * X[d] / qexo,
                         e_iso=e_iso)
        out["markets"][g] = mk
        for o, row in fl.items():
            firms = FIRMS[g][o]
            n = len(firms)
            assert o in row and row[o] > 0, (g, o)
            mb = mk[o]["P"] - mk[o]["b"] * row[o] / n   # mean effective cost (c + inputs - s - θ)
            e = {}
            for d, F in row.items():
                if d == o:
                    continue
                M = 1.0 + TARIFF0.get((d, o), 0.0)
                phi, eta = FRINGE.get((g, o), (0.0, 0.0))
                e[d] = (mk[d]["P"] - mk[d]["b"] * F * (1.0 - phi) / n) / M - mb
                if e[d] < 0:
                    out["checks"].append(f"NEG route {g} {o}->{d}: {e[d]:.3f}")
                out["routes"].append((o, d, g, max(0.0, e[d])))
            # controlled links: a route cost equal to the default transport (no designed flow)
            for d in CONTROLLED_LINKS.get((g, o), []):
                e[d] = GOODS[g]["transport"]
                out["routes"].append((o, d, g, e[d]))
            dests = list(row.keys()) + CONTROLLED_LINKS.get((g, o), [])
            # smallest per-firm markup over the origin's destinations (mean firm)
            mkmin = min((mk[d]["P"] - (1.0 + TARIFF0.get((d, o), 0.0) if d != o else 1.0) * (mb + e.get(d, 0.0)))
                        for d in row)
            for i, (fid, kind, theta) in enumerate(firms):
                dev = 0.0 if n == 1 else DEV * mkmin * (2 * i / (n - 1) - 1)
                base = mb + dev
                q = {}
                for d, F in row.items():
                    M = 1.0 + TARIFF0.get((d, o), 0.0) if d != o else 1.0
                    q[d] = (mk[d]["P"] - M * (base + e.get(d, 0.0))) / mk[d]["b"]
                    if q[d] <= 0:
                        out["checks"].append(f"NEG flow {fid} -> {d}: {q[d]:.3f}")
                y = sum(q.values())
                k = SPARE_BY.get((g, o), SPARE) * y
                s = SUBSIDY.get((o, g), 0.0)
                inputs_cost = sum(u * MARKETS[h][o][0] for h, u in GOODS[g]["inputs"].items())
                c_eff = base + theta + s - inputs_cost        # c(0): own cost at period 0
                if c_eff <= 0:
                    out["checks"].append(f"NEG cost {fid}: {c_eff:.3f}")
                lm = learning_multiplier(g, fid, y, k)
                c0 = c_eff / lm
                # reservation headroom for each input: r - p = max_l(b q / M)/u
                mark = max(mk[d]["b"] * q[d] / ((1.0 + TARIFF0.get((d, o), 0.0)) if d != o else 1.0) for d in q)
                for h, u in GOODS[g]["inputs"].items():
                    p = MARKETS[h][o][0]
                    r = p + mark / u
                    if (1 - SPREAD) * r < (1 + WINDOW) * p:
                        out["checks"].append(f"LOW reservation {fid} for {h}: r={r:.2f} p={p:.2f}")
                    if (1 - SPREAD) * min(r, (1 + RESTOCK_MARKUP) * p) < (1 + WINDOW) * p:
                        out["checks"].append(f"LOW restocking reservation {fid} for {h}")
                out["firms"].append(dict(id=fid, good=g, region=o, kind=kind, theta=theta, c0=c0, c_eff=c_eff,
                                         cap=k, y=y, q=q, sells_to=dests, base=base, lm=lm, markup=mark))
            # The fringe: one price-taking firm per export route, at P_d/M - e_od = c + k*q (its
            # marginal cost rises with output; elasticity eta at the rest point).
            phi, eta = FRINGE.get((g, o), (0.0, 0.0))
            for d, F in row.items():
                if d == o or phi <= 0.0:
                    continue
                M = 1.0 + TARIFF0.get((d, o), 0.0)
                p = mk[d]["P"] / M - e[d]
                qf = phi * F
                slope = p / (eta * qf)
                c_full = p - slope * qf
                inputs_cost = sum(u * MARKETS[h][o][0] for h, u in GOODS[g]["inputs"].items())
                c_own = c_full - inputs_cost
                if c_own <= 0:
                    out["checks"].append(f"NEG cost fringe {g} {o}->{d}: {c_own:.3f}")
                mark = slope * qf
                for h, u in GOODS[g]["inputs"].items():
                    ph = MARKETS[h][o][0]
                    r = ph + mark / u
                    if (1 - SPREAD) * r < (1 + WINDOW) * ph:
                        out["checks"].append(f"LOW reservation fringe {g} {o}->{d} for {h}: r={r:.2f} p={ph:.2f}")
                out["firms"].append(dict(id=f"{o.lower()}-fringe-{g.replace('_', '-')}-{d.lower()}", good=g, region=o,
                                         kind="western", theta=0.0, c0=c_own, c_eff=c_own, cap=FRINGE_SPARE * qf,
                                         y=qf, q={d: qf}, sells_to=[d], base=c_full, lm=1.0, markup=mark,
                                         price_taking=True, slope=slope))
    return out


def report():
    res = solve()
    for c in res["checks"]:
        print(c)
    for g, mk in res["markets"].items():
        for d, m in mk.items():
            print(f"{g:13s} {d:9s} P={m['P']:9.1f} X={m['X']:9.1f} exo={m['qexo']:9.1f} a={m['a']:10.2f} bexo={m['bexo']:.5g} bhat={m['b']:.5g} eps_exo={m['P']/m['bexo']/m['qexo']:.3f}")
    for f in res["firms"]:
        print(f"{f['id']:24s} {f['good']:12s} c0={f['c0']:10.2f} ceff={f['c_eff']:10.2f} y={f['y']:9.2f} markup={f['markup']:.2f} lm={f['lm']:.3f}")


# ---------------------------------------------------------------------------------------
# Entrant pools. capex in k$ per project, capacity per month.
MONTHLY = lambda r: (1 + r) ** (1 / 12) - 1
POOLS = [
  # id, good, region, kind, candidates, capex, capacity, marginal_cost, cost_sigma, capex_sigma,
  # build_lag, sells_to, first_period, note
  dict(id="us-ree-separation", good="ree_oxide", region="US", kind="western", candidates=4,
       capex=400000.0, capacity=100.0, marginal_cost=45.0, cost_sigma=0.15, capex_sigma=0.3,
       build_lag=84, sells_to=["US", "PARTNERS"],
       note="mine + separation plant, 1,200 t/yr NdPr oxide; mine/refinery 7-8 years (CAL §2)"),
  dict(id="pa-ree-separation", good="ree_oxide", region="PARTNERS", kind="western", candidates=3,
       capex=400000.0, capacity=100.0, marginal_cost=45.0, cost_sigma=0.15, capex_sigma=0.3,
       build_lag=60, sells_to=["PARTNERS", "US"],
       note="separation plant fed by third-country concentrate (Lynas/Solvay-type), 5 years"),
  dict(id="us-magnet-plant", good="magnets", region="US", kind="western", candidates=3,
       capex=1000000.0, capacity=833.0, marginal_cost=30.0, cost_sigma=0.15, capex_sigma=0.3,
       build_lag=36, sells_to=["US", "PARTNERS"],
       note="$1bn per 10,000 t/yr magnet plant (833 t/month), 2.5-4 years to build (CAL §2)"),
  dict(id="pa-magnet-plant", good="magnets", region="PARTNERS", kind="western", candidates=3,
       capex=1000000.0, capacity=833.0, marginal_cost=28.0, cost_sigma=0.15, capex_sigma=0.3,
       build_lag=30, sells_to=["PARTNERS", "US"],
       note="$1bn per 10,000 t/yr magnet plant in Europe/Japan/Korea"),
  dict(id="cn-sme-push", good="sme", region="CN", kind="soe", candidates=4,
       capex=None, capacity=40.0, marginal_cost=2900.0, cost_sigma=0.1, capex_sigma=0.3,
       build_lag=24, sells_to=["CN"], target=1.05,
       note="domestic tool makers (Naura/AMEC/SMEE-type lines), Big Fund III"),
  dict(id="cn-eda-push", good="eda", region="CN", kind="soe", candidates=4,
       capex=None, capacity=300.0, marginal_cost=95.0, cost_sigma=0.1, capex_sigma=0.3,
       build_lag=24, sells_to=["CN"], target=1.05,
       note="domestic EDA/IP vendors (Empyrean/Primarius-type)"),
  dict(id="cn-adv-fab", good="adv_chips", region="CN", kind="soe", candidates=6,
       capex=None, capacity=1.0, marginal_cost=9000.0, cost_sigma=0.1, capex_sigma=0.3,
       build_lag=30, sells_to=["CN"], target=1.05,
       note="SMIC/Huawei-affiliated advanced-node fab lines (1k wafers/month); fab 19-38 months"),
]
INV_SUBSIDY = {("CN", "sme"): 0.3, ("CN", "eda"): 0.3, ("CN", "adv_chips"): 0.5}


def pool_npv(pool, res, price_override=None):
    """Sylos NPV of the median candidate at the design rest point (as engine/simulation.cpp)."""
    g, o = pool["good"], pool["region"]
    mk = res["markets"][g]
    s = SUBSIDY.get((o, g), 0.0)
    inputs_cost = sum(u * MARKETS[h][o][0] for h, u in GOODS[g]["inputs"].items())
    cost = pool["marginal_cost"] + inputs_cost - s
    routes = {(r[0], r[1], r[2]): r[3] for r in res["routes"]}
    links = []
    for d in pool["sells_to"]:
        M = 1.0 + TARIFF0.get((d, o), 0.0) if d != o else 1.0
        e = 0.0 if d == o else routes.get((o, d, g), GOODS[g]["transport"])
        P = mk[d]["P"] if price_override is None else price_override.get(d, mk[d]["P"])
        links.append((P, mk[d]["b"], M, e))
    K = pool["capacity"]
    def qs(mu):
        return [max(0.0, (P - M * (cost + e + mu)) / (2 * b)) for P, b, M, e in links]
    lo, hi = 0.0, 1e9
    if sum(qs(0.0)) > K:
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if sum(qs(mid)) > K: lo = mid
            else: hi = mid
        q = qs(hi)
    else:
        q = qs(0.0)
    profit = sum(qi * ((P - b * qi) / M - cost - e) for qi, (P, b, M, e) in zip(q, links))
    i = MONTHLY(0.08)
    npv = profit * (1 - (1 + i) ** -120) / i * (1 + i) ** -pool["build_lag"]
    return npv, profit, q


def fmt_list(xs):
    return "[" + ", ".join(f'"{x}"' for x in xs) + "]"


def emit(res, path):
    L = []
    w = L.append
    w("# Calibrated 2024 baseline: US, China, partners (EU/JP/KR/TW) and the rest of the world;")
    w("# rare earths (ree_oxide -> magnets -> autos) and chips (sme + eda -> adv_chips -> ai_compute;")
    w("# sme -> mature_chips -> autos). Period 0 = 2024-01, monthly, 12 years. Targets and sources:")
    w("# /work/shared/CALIBRATION.md (\"CAL §n\"); how the numbers were derived: docs/CALIBRATION_NOTES.md.")
    w("#")
    w("# UNITS. Money is in thousand USD (k$) throughout, so $/kg = k$/t: NdPr oxide ≈ 52 k$/t")
    w("# ($52/kg), magnets ≈ 48-63 k$/t, a car ≈ 22,000-32,000 k$ per thousand vehicles. Quantities")
    w("# are per month in each good's unit.")
    w("#")
    w("# DESIGN. Every market clears at its target price P* with target flows. Exogenous demand is")
    w("# the line through (X - input bids, P*), X the market's total sales, with the slope at which")
    w("# the engine's demand fit reports total-demand elasticity eps (input bids are flat there), so")
    w("# sellers see b = P*/(eps*X). An origin's mean full unit cost comes from its home market's")
    w("# Cournot condition P - b*q = c_full, each export route's cost from")
    w("# P_d - b_d*q = (1+t)*(c_full + route); firm")
    w("# costs are spread around the mean. `marginal_cost` excludes inputs (bought at market prices)")
    w("# and, for SOEs, includes the output weight θ (they act as if their cost were c - θ). Chip")
    w("# `marginal_cost`s are pre-learning values: during the burn-in every incumbent chip maker")
    w(f"# reaches the learning floor ({FLOOR_CHIPS} x c0), so only entrants learn after 2024. Capacities")
    w("# are 1.25 x planned output (magnet makers outside China 1.1 x: little spare capacity).")
    w("# Generated by configs/calibration/make_baseline.py (edit the targets there, not here).")
    w("")
    w("[run]")
    w('scenario = "baseline_2024"')
    w("periods = 144              # 2024-01 .. 2035-12")
    w("seed = 2024")
    w('start = "2024-01"')
    w(f"burn_in = {BURN_IN}              # months before 2024-01, so the run starts at rest")
    w("")
    w("[behaviour]")
    w(f"adjustment = {KAPPA}           # κ: stable for up to 39 sellers per market; damps the overshoot after cut-offs")
    w(f"bid_spread = {SPREAD}          # input bids are nearly steps: buyers are served in full at the rest point")
    w(f"demand_window = {WINDOW}         # ±30% fit; elasticity floor 0.3 keeps Cournot sellers from withholding when input bids dominate")
    w("price_expectation = 0.2")
    w("uncertainty_premium = 0.1   # ρ: hurdle rate + 0.1 per unit of policy uncertainty U (U ≈ 0.3–0.5 in")
    w("                            # the noncooperative runs → +3–5 pp on 8%). A modelling choice (trade-policy")
    w("                            # uncertainty deters investment: Handley & Limão 2017); sweep it in ensembles.")
    w("inventory_cover = 1.0       # months of input stock kept by default")
    w(f"restock_markup = {RESTOCK_MARKUP}        # buffer restocking bids at most (1 + 0.5) x the expected input price")
    w(f"max_price_rise = {MAX_PRICE_RISE}        # a price rises at most 50% in a month; buyers rationed pro rata above it")
    w("exit_after = 12")
    w("")
    for r in REGIONS:
        note = {"US": "", "CN": "", "PARTNERS": "  # EU, Japan, Korea, Taiwan", "ROW": "  # rest of the world (Malaysia, Vietnam, Mexico, India, ...)"}[r]
        w("[[region]]")
        w(f'id = "{r}"{note}')
        w(f'bloc = "{BLOC[r]}"')
    w("")
    for g in ORDER:
        spec = GOODS[g]
        w(f"[[good]]                    # {spec['note']}")
        w(f'id = "{g}"')
        w(f'unit = "{spec["unit"]}"')
        if spec["inputs"]:
            w("inputs = { " + ", ".join(f"{h} = {u}" for h, u in spec["inputs"].items()) + " }")
        w(f"transport_cost = {fmt(spec['transport'])}   # links without a calibrated [[route]] (entrants' exports)")
        if "pr" in spec:
            w(f"progress_ratio = {spec['pr']}        # 20% cost fall per doubling (CAL §2)")
            w(f"learning_floor = {spec['floor']}")
        if spec["cover"] is not None:
            cov = {"magnets": "automakers hold 1.75 months ≈ 7.5 weeks at the start of a month (CAL §2: 4-8 weeks)",
                   "mature_chips": "≈ 2 weeks of mature-node chips (CAL §2: 1-3 weeks)"}[g]
            w(f"inventory_cover = {spec['cover']}      # {cov}")
    w("")
    w("# Exogenous demand (uses outside the modelled chain) per market, P = a - b*Q.")
    for g in ORDER:
        mk = res["markets"][g]
        w(f"# {g}: target P* (k$/{GOODS[g]['unit']}) and total sales X per month: " +
          ", ".join(f"{d} {mk[d]['P']:g} / {mk[d]['X']:g}" for d in REGIONS if d in mk))
        for d in REGIONS:
            if d not in mk: continue
            m = mk[d]
            w("[[market]]")
            w(f'good = "{g}"')
            w(f'region = "{d}"')
            if m["e_iso"] is not None:
                w(f"demand = {{ a = {fmt(CHOKE * m['P'], 8)}, elasticity = {fmt(m['e_iso'], 6)}, price = {fmt(m['P'], 8)}, quantity = {fmt(m['qexo'], 8)} }}   # isoelastic; exogenous {m['qexo']:.1f} of {m['X']:g} at P*; eps {m['eta']:g}")
            else:
                w(f"demand = {{ a = {fmt(m['a'], 8)}, b = {fmt(m['bexo'], 6)} }}   # exogenous {m['qexo']:.1f} of {m['X']:g} at P*; eps {m['eta']:g} (own {m['P'] / m['bexo'] / m['qexo']:.2f})")
    w("")
    w("# Export routes: transport and other trade costs (k$/unit) that reproduce the 2024 flows.")
    for (o, d, g, e) in res["routes"]:
        w(f'[[route]]\norigin = "{o}"\ndestination = "{d}"\ngood = "{g}"\ncost = {fmt(e)}')
    w("")
    byg = {}
    for f in res["firms"]:
        byg.setdefault(f["good"], []).append(f)
    for g in ORDER:
        fl = FLOWS[g]
        tot = sum(sum(r.values()) for r in fl.values())
        w(f"# ---- {g}: 2024 supply by origin (units/month, share of world): " +
          ", ".join(f"{o} {sum(r.values()):g} ({100*sum(r.values())/tot:.1f}%)" for o, r in fl.items()))
        for f in byg[g]:
            w("[[firm]]")
            w(f'id = "{f["id"]}"')
            w(f'region = "{f["region"]}"')
            w(f'good = "{g}"')
            w(f'kind = "{f["kind"]}"')
            extra = ""
            if GOODS[g].get("pr", 1.0) < 1.0:
                extra = f"   # {f['c_eff']:.0f} in 2024 after learning"
            w(f"marginal_cost = {fmt(f['c0'])}{extra}")
            w(f"capacity = {fmt(f['cap'])}          # 2024 output ≈ {f['y']:.1f}")
            if f["kind"] == "soe":
                w(f"output_weight = {fmt(f['theta'])}")
            if f.get("price_taking"):
                w(f"cost_slope = {fmt(f['slope'])}   # supply elasticity {FRINGE[(g, f['region'])][1]:g} at the 2024 price")
                w("price_taking = true")
            w(f"sells_to = {fmt_list(f['sells_to'])}")
    w("")
    w("# ---- Entrant pools: candidates enter when the NPV of their best response at expected")
    w("# prices (8% hurdle, 10-year life) beats their share of capex. Western rare-earth and magnet")
    w("# projects do not pay at 2024 prices; China's self-sufficiency push in sme/eda/adv_chips is")
    w("# near break-even with investment subsidies, so some of its candidates enter.")
    for p in POOLS:
        w("[[entrant_pool]]")
        w(f'id = "{p["id"]}"            # {p["note"]}')
        w(f'good = "{p["good"]}"')
        w(f'region = "{p["region"]}"')
        w(f'kind = "{p["kind"]}"')
        w(f"candidates = {p['candidates']}")
        npv, prof, q = pool_npv(p, res)
        own = 1.0 - INV_SUBSIDY.get((p["region"], p["good"]), 0.0)
        w(f"capex = {fmt(p['capex'])}          # median candidate's NPV at 2024 prices ≈ {npv:,.0f} (own share of capex {own:.2f})")
        w(f"capacity = {fmt(p['capacity'])}")
        w(f"marginal_cost = {fmt(p['marginal_cost'])}")
        w(f"cost_sigma = {p['cost_sigma']}")
        w(f"capex_sigma = {p['capex_sigma']}")
        w(f"build_lag = {p['build_lag']}")
        w("hurdle_rate = 0.08")
        w("lifetime = 120")
        w(f"sells_to = {fmt_list(p['sells_to'])}")
    w("")
    w("# ---- Governments (2024 instruments).")
    w("[[government]]")
    w('region = "US"')
    w('rule = "none"')
    w("# Section 301 + 2018-19 escalation: ≈ 21% average on China (CAL §3, Jan 2025 level).")
    w("tariffs = [")
    for g in ORDER:
        w(f'  {{ good = "{g}", exporter = "CN", ad_valorem = 0.21 }},')
    w("]")
    w("# Oct 2022 / Oct 2023 chip controls: licences for fab tools (a few approved each month) and")
    w("# advanced chips (presumption of denial: approval 0) to China.")
    w("export_controls = [")
    for g, ctl in US_CONTROLS.items():
        w(f'  {{ good = "{g}", partner = "CN", kind = "license", approval = {ctl[0]}, delay = {ctl[1]} }},')
    w("]")
    w("")
    w("[[government]]")
    w('region = "CN"')
    w('rule = "none"')
    w("# Retaliation 2018-19: ≈ 21% average on the US (CAL §3).")
    w("tariffs = [")
    for g in ORDER:
        w(f'  {{ good = "{g}", exporter = "US", ad_valorem = 0.21 }},')
    w("]")
    w("# Direct subsidies ≈ 10% of Chinese semiconductor revenue (CAL §2, OECD), per unit of output.")
    w("production_subsidies = [")
    for (r, g), v in SUBSIDY.items():
        w(f'  {{ good = "{g}", rate = {fmt(v)} }},')
    w("]")
    w("# Big Fund: share of entrants' capex paid by the state.")
    w("investment_subsidies = [")
    for (r, g), v in INV_SUBSIDY.items():
        w(f'  {{ good = "{g}", rate = {v} }},')
    w("]")
    w("")
    w("[[government]]")
    w('region = "PARTNERS"')
    w('rule = "none"')
    w("")
    w("[[government]]")
    w('region = "ROW"')
    w('rule = "none"')
    open(path, "w").write("\n".join(L) + "\n")


US_CONTROLS = {"sme": (0.1, 1), "adv_chips": (0.0, 1)}


def calibrate_pools(res):
    for p in POOLS:
        if p.get("capex") is None:
            npv, prof, q = pool_npv(p, res)
            own = 1.0 - INV_SUBSIDY.get((p["region"], p["good"]), 0.0)
            p["capex"] = float(f"{npv / (own * p['target']):.3g}")


if __name__ == "__main__":
    if "--report" in sys.argv:
        report()
        sys.exit(0)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "baseline_2024.toml")
    res = solve()
    for c in res["checks"]:
        print(c)
    calibrate_pools(res)
    for p in POOLS:
        npv, prof, q = pool_npv(p, res)
        own = 1.0 - INV_SUBSIDY.get((p["region"], p["good"]), 0.0)
        print(f"pool {p['id']:20s} profit/month {prof:12.1f} q {[round(x,2) for x in q]} NPV {npv:14.0f} own capex {own*p['capex']:14.0f}")
    emit(res, out)
